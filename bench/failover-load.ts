import { setTimeout as sleep } from "node:timers/promises";
import { waitFor, type HaGroup } from "../lab/ha-group.js";
import type { GatewayKey, HaTopology } from "../lab/ha-topology.js";
import { contradictedWrites, startWriteLoop, type WriteLoopReport } from "./failover-writes.js";
import type { Figure } from "./lib/results.js";
import { median } from "./lib/stats.js";

const latency = (values: number[]) => Math.round(median(values));

export interface LoadTrial { outageMs: number; streamSurvived: boolean; streamGapMs: number }

export interface FailoverUnderLoadOptions {
  group: HaGroup;
  topo: HaTopology;
  /** Mappings present besides the two the traffic uses. */
  size: number;
  /** At most 3: each trial writes into its own range of sources. */
  repetitions: number;
  masterOf: () => Promise<GatewayKey>;
  /** A hard failure of the master measured by the prober and the stream (the plain failover's own trial). */
  measure: (act: () => Promise<void>) => Promise<LoadTrial>;
  log: (line: string) => void;
}

/** 10.244.100.0 onwards, one /32 each: inside the bench cluster and apart from the pods' /26s. */
const fillerSource = (i: number) => `10.244.${100 + Math.floor(i / 256)}.${i % 256}/32`;
/** Trial r's writes: 10.244.(160 + 16r).0/20, a source each (up to three trials). */
const WRITES_PER_TRIAL = 4_096;
const writeSource = (r: number) => (k: number) => `10.244.${160 + 16 * r + Math.floor(k / 256)}.${k % 256}`;

async function waitInSync(group: HaGroup, master: GatewayKey, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    const status = await group.daemons[master].api("GET", "/v1/status").catch(() => undefined);
    return (status?.body as { peers?: { inSync: boolean }[] } | undefined)?.peers?.every((p) => p.inSync) === true;
  }, timeoutMs, `the backup to hold every write of ${master}`);
}

/**
 * The hard failover with `size` mappings present and a writer loop on the master's API (then the new master's)
 * through it: the outage and the stream as in the plain trial, the writes acknowledged, and whether the surviving
 * gateway holds every one of them. The killed gateway comes back as backup before the next repetition.
 */
export async function failoverUnderLoad(options: FailoverUnderLoadOptions): Promise<Figure[]> {
  const { group, topo, size } = options;
  const master0 = await options.masterOf();
  const mappings = [
    { name: "a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" },
    { name: "b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11" },
    ...Array.from({ length: size }, (_, i) => ({ name: `f-${i}`, sourceCidr: fillerSource(i), egressIp: i % 2 ? "203.0.113.11" : "203.0.113.10" })),
  ];
  const put = await group.daemons[master0].api("PUT", "/v1/clusters/bench/mappings?wait=true&waitTimeoutMs=120000", { mappings });
  if (put.status >= 300) throw new Error(`PUT ${size} mappings: ${put.status} ${JSON.stringify(put.body).slice(0, 300)}`);
  await waitInSync(group, master0, 60_000);
  const trials: LoadTrial[] = [];
  const writes: (WriteLoopReport & { lost: string[]; unconfirmed: string[]; unconfirmedAcks: number; from: GatewayKey })[] = [];
  for (let r = 0; r < options.repetitions; r++) {
    const master = await options.masterOf();
    const backup: GatewayKey = master === "a" ? "b" : "a";
    const writer = startWriteLoop(group, master, { cluster: "bench", egressIp: "203.0.113.11", prefix: `w${r}-`, sourceOf: writeSource(r), limit: WRITES_PER_TRIAL });
    // Writes in flight when the master dies, and on the new master after it.
    await waitFor(async () => writer.acknowledgedBy(master) >= 3, 30_000, `3 writes acknowledged by ${master}`);
    trials.push(await options.measure(async () => {
      topo.gateways[master].killAll();
      await topo.cutGateway(master);
      await group.waitForRole(backup, "master", 10_000);
    }));
    await waitFor(async () => writer.acknowledgedBy(backup) >= 5, 30_000, `5 writes acknowledged by the new master ${backup}`);
    const report = await writer.stop();
    const check = await contradictedWrites(group, backup, "bench", report.expected);
    writes.push({ ...report, ...check, from: master });
    const t = trials.at(-1)!;
    options.log(`  hard failure of ${master} with ${size.toLocaleString("en")} mappings and writes: outage ${t.outageMs} ms, stream ${t.streamSurvived ? "survived" : "BROKE"}; `
      + `${report.acknowledged} writes acknowledged (${report.byGateway[master]} by ${master}, ${report.byGateway[backup]} by ${backup}), longest gap ${Math.round(report.longestGapMs)} ms; `
      + `${backup} lacks ${check.lost.length} it had confirmed${check.lost.length ? ` (${check.lost.slice(0, 5).join(", ")})` : ""}, `
      + `${check.unconfirmed.length} of the ${check.unconfirmedAcks} acknowledged without its confirmation${check.unconfirmed.length ? ` (${check.unconfirmed.slice(0, 5).join(", ")})` : ""}`);
    if (r === options.repetitions - 1) break;
    await topo.restoreGateway(master);
    await group.daemons[master].start().catch((error: unknown) => {
      throw new Error(`${master} did not come back: ${String(error).slice(0, 300)}\n${group.daemons[master].log().slice(-4000)}`);
    });
    await group.waitForRole(master, "backup", 60_000);
    await waitInSync(group, backup, 60_000);
    await sleep(1_000);
  }
  const n = trials.length;
  const outage = median(trials.map((t) => t.outageMs));
  const survived = trials.filter((t) => t.streamSurvived).length;
  const acknowledged = writes.reduce((sum, w) => sum + w.acknowledged, 0);
  const lost = writes.reduce((sum, w) => sum + w.lost.length, 0);
  const unconfirmed = writes.reduce((sum, w) => sum + w.unconfirmed.length, 0);
  const unconfirmedAcks = writes.reduce((sum, w) => sum + w.unconfirmedAcks, 0);
  const load = `${size.toLocaleString("en")} mappings present, the API taking writes`;
  return [
    {
      id: "fo-load-hard", section: "failover", title: `data-plane outage when the master dies hard, ${load}`,
      value: outage, unit: "ms", target: "≤ 1 s", met: outage <= 1_000, samples: trials.map((t) => t.outageMs),
      notes: `median of ${n}; largest stream gap ${Math.max(...trials.map((t) => t.streamGapMs))} ms`,
    },
    {
      id: "fo-load-streams", section: "failover", title: `established TCP streams that survived the hard failover, ${load}`,
      value: survived, unit: `of ${n}`, target: "all, with no reset", met: survived === n,
    },
    {
      id: "fo-load-writes", section: "failover",
      title: `acknowledged writes (POST/DELETE of a mapping, on the master then the new master) the surviving gateway does not hold, ${load}`,
      value: lost, unit: `of ${acknowledged - unconfirmedAcks}`, target: "0", met: lost === 0,
      notes: `${writes.map((w) => `${w.acknowledged} of ${w.attempted} attempts acknowledged (${w.byGateway[w.from]} by the dying master)`).join("; ")}; `
        + `besides, ${unconfirmedAcks} acknowledged by the dying master without the survivor's confirmation (Egw-Replication-Behind, after `
        + `ha.replicationTimeoutMs), of which the survivor lacks ${unconfirmed}: not promised, not counted`,
    },
    {
      id: "fo-load-write-gap", section: "failover", title: `API write outage through the hard failover (longest time between two acknowledged writes), ${load}`,
      value: Math.round(median(writes.map((w) => w.longestGapMs))), unit: "ms", target: "reported", met: null,
      samples: writes.map((w) => Math.round(w.longestGapMs)),
      notes: `median of ${n}; median acknowledged write ${latency(writes.flatMap((w) => w.latencyMs[w.from]))} ms on the master before it died, `
        + `${latency(writes.flatMap((w) => w.latencyMs[w.from === "a" ? "b" : "a"]))} ms on the new master with its peer dead`,
    },
  ];
}
