import { setTimeout as sleep } from "node:timers/promises";
import type { HaGroup } from "../lab/ha-group.js";
import type { GatewayKey } from "../lab/ha-topology.js";

/** What a write loop saw: the writes each gateway acknowledged and what the survivor must hold because of them. */
export interface WriteLoopReport {
  attempted: number;
  acknowledged: number;
  byGateway: Record<GatewayKey, number>;
  /** The longest time between two acknowledged writes: the API's write outage. */
  longestGapMs: number;
  /** Mapping name → whether the last acknowledged write leaves it present (POST) or absent (DELETE). */
  expected: Map<string, boolean>;
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
  const report: WriteLoopReport = { attempted: 0, acknowledged: 0, byGateway: { a: 0, b: 0 }, longestGapMs: 0, expected: new Map() };
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
  const attempt = async (method: string, path: string, body?: unknown): Promise<boolean> => {
    report.attempted++;
    const answer = await group.daemons[target].api(method, path, body).catch(() => undefined);
    if (answer === undefined || answer.status >= 300) {
      target = await findMaster();
      return false;
    }
    const now = performance.now();
    report.longestGapMs = Math.max(report.longestGapMs, now - lastAck);
    lastAck = now;
    report.acknowledged++;
    report.byGateway[target]++;
    return true;
  };
  const run = (async () => {
    for (let k = 0; !stopped && k < limit; k++) {
      const name = `${prefix}${k}`;
      if (!(await attempt("POST", `/v1/clusters/${cluster}/mappings`, { name, sourceCidr: `${sourceOf(k)}/32`, egressIp }))) continue;
      report.expected.set(name, true);
      if (k % 2 === 0) continue;
      // A DELETE without an acknowledgement leaves the name's state unknown.
      if (await attempt("DELETE", `/v1/clusters/${cluster}/mappings/${name}`)) report.expected.set(name, false);
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

/** The acknowledged writes a gateway's store contradicts: mappings missing that were created, present that were deleted. */
export async function contradictedWrites(group: HaGroup, key: GatewayKey, cluster: string, expected: Map<string, boolean>): Promise<string[]> {
  const answer = await group.daemons[key].api("GET", `/v1/clusters/${cluster}/mappings`);
  if (answer.status !== 200) throw new Error(`GET mappings on ${key}: ${answer.status}`);
  const present = new Set((answer.body as { mappings: { name: string }[] }).mappings.map((m) => m.name));
  return [...expected].filter(([name, shouldBe]) => present.has(name) !== shouldBe).map(([name, shouldBe]) => `${name} (${shouldBe ? "missing" : "still present"})`);
}
