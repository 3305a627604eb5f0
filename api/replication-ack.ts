import type { Context } from "hono";
import { AppError } from "../appliance/errors.js";
import type { ApiEnv } from "./context.js";

/**
 * Replicates a committed revision before the write is acknowledged, and says in headers how far it got:
 *
 *   Egw-Replicated-To: gw-b                  peers that confirmed it
 *   Egw-Replication-Behind: gw-b=unreachable peers that did not, with the link's state
 *   Egw-Replication-Risk: revocation not yet in force on gw-b (unreachable)
 *
 * An ordinary write is acknowledged after ha.replicationTimeoutMs at the latest. A revocation waits up to
 * ha.revocationTimeoutMs for every peer that is reachable: a reachable peer that does not confirm in time
 * turns the answer into a 504 `replication-timeout` naming it (the change is stored); an unreachable peer
 * cannot be waited for, so the write succeeds with the risk named.
 */
export async function acknowledgeReplication(c: Context<ApiEnv>, revision: number, revocation: boolean): Promise<void> {
  const ha = c.get("deps").ha;
  if (!ha) return;
  const peers = await ha.replicate(revision, revocation ? "revocation" : "write");
  const confirmed = peers.filter((p) => p.outcome === "confirmed");
  const behind = peers.filter((p) => p.outcome !== "confirmed");
  if (confirmed.length > 0) c.header("Egw-Replicated-To", confirmed.map((p) => p.name).join(", "));
  if (behind.length > 0) {
    const state = (p: (typeof peers)[number]) => (p.status === "incompatible" ? p.status : p.outcome === "unreachable" ? "unreachable" : p.status === "in-sync" ? "timeout" : p.status);
    c.header("Egw-Replication-Behind", behind.map((p) => `${p.name}=${state(p)}`).join(", "));
  }
  if (!revocation) return;
  const late = behind.filter((p) => p.outcome === "timeout").map((p) => p.name);
  if (late.length > 0) {
    throw new AppError("replication-timeout",
      `revision ${revision} is stored, but ${late.join(", ")} did not confirm this revocation within ${ha.revocationTimeoutMs} ms although reachable; it may not be in force there yet`,
      { extra: { revision, peers: late } });
  }
  const unreachable = behind.filter((p) => p.outcome === "unreachable").map((p) => `${p.name} (${p.status === "incompatible" ? "incompatible replication protocol" : "unreachable"})`);
  if (unreachable.length > 0) c.header("Egw-Replication-Risk", `revocation not yet in force on ${unreachable.join(", ")}`);
}
