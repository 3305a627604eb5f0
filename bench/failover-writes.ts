import { setTimeout as sleep } from "node:timers/promises";
import type { HaGroup } from "../lab/ha-group.js";
import { HA_ADDR, type GatewayKey } from "../lab/ha-topology.js";

/** The last acknowledged write of one name: what it leaves, who acknowledged it, which peers confirmed it first. */
export interface AcknowledgedWrite {
  present: boolean;
  by: GatewayKey;
  /** Egw-Replicated-To: the peers that held the write before it was acknowledged. */
  replicatedTo: string[];
}

/** What a write loop saw: the writes each gateway acknowledged and what the survivor must hold because of them. */
export interface WriteLoopReport {
  attempted: number;
  acknowledged: number;
  byGateway: Record<GatewayKey, number>;
  /** How long each acknowledged write took, by the gateway that acknowledged it. */
  latencyMs: Record<GatewayKey, number[]>;
  /** The longest time between two acknowledged writes: the API's write outage. */
  longestGapMs: number;
  /** Mapping name → its last acknowledged write. */
  expected: Map<string, AcknowledgedWrite>;
}

export interface WriteLoop {
  /** Writes acknowledged so far by that gateway. */
  acknowledgedBy(key: GatewayKey): number;
  stop(): Promise<WriteLoopReport>;
}

const other = (key: GatewayKey): GatewayKey => (key === "a" ? "b" : "a");

/**
 * POSTs new mappings (and DELETEs every second one again) on `first`'s API as fast as each is acknowledged, each a
 * durable write replicated before it is acknowledged. After a refused or failed write (the gateway died) the loop
 * writes to whichever gateway is master, as a client of the API on the VIP would: to the new master after a failover.
 * A name whose write got no acknowledgement has an unknown outcome and is never checked; `sourceOf(k)` gives the
 * k-th write's source, inside the cluster and apart from every other mapping; `prefix` + k its name; it stops after
 * `limit` names.
 */
export function startWriteLoop(group: HaGroup, first: GatewayKey, writes: { cluster: string; egressIp: string; prefix: string; sourceOf: (k: number) => string; limit: number }): WriteLoop {
  const { cluster, egressIp, prefix, sourceOf, limit } = writes;
  const report: WriteLoopReport = { attempted: 0, acknowledged: 0, byGateway: { a: 0, b: 0 }, latencyMs: { a: [], b: [] }, longestGapMs: 0, expected: new Map() };
  let stopped = false;
  let target = first;
  let lastAck = performance.now();
  // As a client that reaches the API on the VIP would: to whichever gateway is master once one is.
  const findMaster = async (): Promise<GatewayKey> => {
    for (;;) {
      for (const key of [other(target), target]) if ((await group.role(key)) === "master") return key;
      if (stopped) return target;
      await sleep(20);
    }
  };
  const attempt = async (method: string, path: string, body?: unknown): Promise<Omit<AcknowledgedWrite, "present"> | undefined> => {
    report.attempted++;
    const sent = performance.now();
    const answer = await group.daemons[target].api(method, path, body).catch(() => undefined);
    if (answer === undefined || answer.status >= 300) {
      target = await findMaster();
      return undefined;
    }
    const now = performance.now();
    report.longestGapMs = Math.max(report.longestGapMs, now - lastAck);
    lastAck = now;
    report.acknowledged++;
    report.byGateway[target]++;
    report.latencyMs[target].push(now - sent);
    const replicatedTo = String(answer.headers["egw-replicated-to"] ?? "").split(",").map((name) => name.trim()).filter(Boolean);
    return { by: target, replicatedTo };
  };
  const run = (async () => {
    for (let k = 0; !stopped && k < limit; k++) {
      const name = `${prefix}${k}`;
      const created = await attempt("POST", `/v1/clusters/${cluster}/mappings`, { name, sourceCidr: `${sourceOf(k)}/32`, egressIp });
      if (!created) continue;
      report.expected.set(name, { present: true, ...created });
      if (k % 2 === 0) continue;
      const deleted = await attempt("DELETE", `/v1/clusters/${cluster}/mappings/${name}`);
      // A DELETE without an acknowledgement leaves the name's state unknown.
      if (deleted) report.expected.set(name, { present: false, ...deleted });
      else report.expected.delete(name);
    }
  })();
  return {
    acknowledgedBy: (key) => report.byGateway[key],
    stop: async () => {
      stopped = true;
      await run;
      return report;
    },
  };
}

/**
 * The acknowledged writes the surviving gateway's store contradicts (created but missing, deleted but present), in
 * two kinds: `lost`, writes the survivor had confirmed (or acknowledged itself), which must never be contradicted;
 * and `unconfirmed`, writes the dying master acknowledged without the survivor's confirmation (after
 * ha.replicationTimeoutMs, naming it in Egw-Replication-Behind), which the product does not promise to keep.
 */
export async function contradictedWrites(group: HaGroup, survivor: GatewayKey, cluster: string, expected: Map<string, AcknowledgedWrite>): Promise<{ lost: string[]; unconfirmed: string[]; unconfirmedAcks: number }> {
  const answer = await group.daemons[survivor].api("GET", `/v1/clusters/${cluster}/mappings`);
  if (answer.status !== 200) throw new Error(`GET mappings on ${survivor}: ${answer.status}`);
  const present = new Set((answer.body as { mappings: { name: string }[] }).mappings.map((m) => m.name));
  const guaranteed = (w: AcknowledgedWrite) => w.by === survivor || w.replicatedTo.includes(HA_ADDR.gateways[survivor].name);
  const contradicted = [...expected].filter(([name, w]) => present.has(name) !== w.present);
  const describe = ([name, w]: [string, AcknowledgedWrite]) => `${name} (${w.present ? "missing" : "still present"})`;
  return {
    lost: contradicted.filter(([, w]) => guaranteed(w)).map(describe),
    unconfirmed: contradicted.filter(([, w]) => !guaranteed(w)).map(describe),
    unconfirmedAcks: [...expected.values()].filter((w) => !guaranteed(w)).length,
  };
}
