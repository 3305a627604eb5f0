import { setTimeout as sleep } from "node:timers/promises";
import { openStream, startHaGroup, startProber, type HaGroup } from "../lab/ha-group.js";
import { buildHaTopology, HA_ADDR, type GatewayKey, type HaTopology } from "../lab/ha-topology.js";
import { startWhoamiServer } from "../lab/whoami-client.js";
import { failoverUnderLoad } from "./failover-load.js";
import type { Figure } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

export interface FailoverOptions { quick: boolean; log: (line: string) => void }

async function register(group: HaGroup): Promise<void> {
  const api = group.daemons.a.api;
  const must = async (method: string, path: string, body: unknown) => {
    const r = await api(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  for (const address of ["203.0.113.10", "203.0.113.11"]) await must("POST", "/v1/egress-ips", { address });
  // The load trials hold 10k mappings and more: above the default quota, raised by the admin here.
  await must("POST", "/v1/clusters", { name: "bench", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10", "203.0.113.11"], quotas: { mappings: 100_000 } });
  await must("PUT", "/v1/clusters/bench/mappings?wait=true", { mappings: [
    { name: "a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" },
    { name: "b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11" },
  ] });
  await must("PUT", "/v1/clusters/bench/routes?wait=true", { routes: [{ prefix: "10.244.0.0/16", via: HA_ADDR.node.v4 }] });
}

async function masterOf(group: HaGroup): Promise<GatewayKey> {
  for (const key of ["a", "b"] as const) if ((await group.role(key)) === "master") return key;
  throw new Error("no master");
}

interface Trial { outageMs: number; streamSurvived: boolean; streamGapMs: number }

async function measure(topo: HaTopology, act: () => Promise<void>): Promise<Trial> {
  const stream = await openStream(topo.pods.a, HA_ADDR.server.v4);
  const prober = await startProber(topo.pods.b, HA_ADDR.server.v4);
  await sleep(500);
  await act();
  await sleep(1_500);
  const probe = await prober.finish();
  const flow = await stream.finish();
  return { outageMs: probe.outageMs, streamSurvived: flow.error === null && flow.received >= flow.sent - 5, streamGapMs: flow.maxGapMs };
}

/** Hard failure (processes killed, links down) and graceful handover, repeated; outage seen by new connections. */
export async function benchFailover(options: FailoverOptions): Promise<Figure[]> {
  const repetitions = options.quick ? 1 : 5;
  const topo = await buildHaTopology();
  let group: HaGroup | undefined;
  try {
    await startWhoamiServer(topo.server, { stream: true });
    // A gateway restarted with 10k mappings is ready after its first full apply: slower on a busy machine.
    group = await startHaGroup(topo, { daemon: () => ({ readyTimeoutMs: 120_000 }) });
    await register(group);
    const hard: Trial[] = [];
    const graceful: Trial[] = [];
    for (let r = 0; r < repetitions; r++) {
      const master = await masterOf(group);
      const backup: GatewayKey = master === "a" ? "b" : "a";
      const g = group;
      hard.push(await measure(topo, async () => {
        topo.gateways[master].killAll();
        await topo.cutGateway(master);
        await g.waitForRole(backup, "master", 10_000);
      }));
      options.log(`  hard failure of ${master}: outage ${hard.at(-1)?.outageMs} ms, stream ${hard.at(-1)?.streamSurvived ? "survived" : "BROKE"}`);
      await topo.restoreGateway(master);
      await group.daemons[master].start();
      await group.waitForRole(master, "backup", 15_000);
      await sleep(1_000);
      graceful.push(await measure(topo, async () => {
        const answer = await g.daemons[backup].api("POST", "/v1/ha/handover");
        if (answer.status !== 200) throw new Error(`handover failed: ${answer.status} ${JSON.stringify(answer.body)}`);
        await g.waitForRole(master, "master", 10_000);
      }));
      options.log(`  graceful handover to ${master}: outage ${graceful.at(-1)?.outageMs} ms, stream ${graceful.at(-1)?.streamSurvived ? "survived" : "BROKE"}`);
      await sleep(1_000);
    }
    const outage = (trials: Trial[]) => median(trials.map((t) => t.outageMs));
    const survived = (trials: Trial[]) => trials.filter((t) => t.streamSurvived).length;
    const live = group;
    const underLoad = await failoverUnderLoad({
      group: live, topo, size: options.quick ? 1_000 : 10_000, repetitions: options.quick ? 1 : 3, log: options.log,
      masterOf: () => masterOf(live), measure: (act) => measure(topo, act),
    });
    return [
      {
        id: "fo-hard", section: "failover", title: "data-plane outage when the master dies hard (processes killed, links down)",
        value: outage(hard), unit: "ms", baseline: { title: "keepalived default (3 × 1 s advert + skew)", value: 3_600, unit: "ms" },
        ratio: round(outage(hard) / 3_600, 3), target: "≤ 1 s", met: outage(hard) <= 1_000, samples: hard.map((t) => t.outageMs),
        notes: `median of ${repetitions}; largest stream gap ${Math.max(...hard.map((t) => t.streamGapMs))} ms`,
      },
      {
        id: "fo-hard-streams", section: "failover", title: "established TCP streams that survived the hard failover",
        value: survived(hard), unit: `of ${hard.length}`, target: "all, with no reset", met: survived(hard) === hard.length,
      },
      {
        id: "fo-graceful", section: "failover", title: "graceful switchover (POST /v1/ha/handover) outage",
        value: outage(graceful), unit: "ms", target: "≤ 300 ms", met: outage(graceful) <= 300, samples: graceful.map((t) => t.outageMs),
        notes: `median of ${repetitions}; streams survived ${survived(graceful)} of ${graceful.length}`,
      },
      ...underLoad,
    ];
  } finally {
    await group?.stop();
    await topo.destroy();
  }
}
