import type { Context } from "hono";
import { AppError } from "../appliance/errors.js";
import type { WriteContext, WriteOutcome } from "../appliance/store/store.js";
import type { ApiEnv } from "./context.js";
import { actorOf } from "./middleware/auth.js";

/**
 * Runs one write as the calling principal, then honours `?wait=true` by waiting (bounded) until the data
 * plane has applied the revision. The revision travels back in the `Egw-Revision` header either way.
 */
export async function performWrite<T>(c: Context<ApiEnv>, change: (tx: WriteContext) => T): Promise<WriteOutcome<T>> {
  const deps = c.get("deps");
  const ha = deps.ha;
  // Leadership was checked when the request arrived; it must still hold when the write commits, or the
  // write would enter this gateway's history under a leader it no longer follows.
  const stillLeading = ha && (() => {
    if (!ha.isLeader()) throw new AppError("not-ready", "this gateway stopped leading while the write was in flight; send it again");
  });
  const outcome = await deps.store.writeBatched(actorOf(c.get("principal")), change, stillLeading).finally(() => c.get("bulkWriteDone")?.());
  c.header("Egw-Revision", String(outcome.revision));
  if (deps.ha && outcome.changed) {
    // The acknowledgement waits for every peer (bounded); the ones that did not confirm are named.
    const peers = await deps.ha.replicate(outcome.revision);
    const confirmed = peers.filter((p) => p.revision !== null && p.revision >= outcome.revision).map((p) => p.name);
    const behind = peers.filter((p) => !confirmed.includes(p.name)).map((p) => `${p.name}=${p.status === "in-sync" ? "timeout" : p.status}`);
    if (confirmed.length > 0) c.header("Egw-Replicated-To", confirmed.join(", "));
    if (behind.length > 0) c.header("Egw-Replication-Behind", behind.join(", "));
  }
  if (c.req.query("wait") === "true") {
    const asked = Number(c.req.query("waitTimeoutMs") ?? deps.waitTimeoutMs);
    const timeout = Math.min(Number.isFinite(asked) && asked > 0 ? asked : deps.waitTimeoutMs, deps.waitTimeoutMs);
    await deps.dataplane.waitForRevision(outcome.revision, timeout);
    c.header("Egw-Applied-Revision", String(deps.dataplane.appliedRevision()));
  }
  return outcome;
}
