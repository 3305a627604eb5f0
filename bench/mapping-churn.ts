import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { startDaemon, type ApiResponse, type DaemonHandle } from "../lab/daemon.js";
import { background } from "../lab/ha-group.js";
import { ADDR, buildGatewayTopology, type PodName } from "../lab/topology.js";
import { judgeFlows, type Change, type Flow } from "./lib/churn-judge.js";
import type { Figure } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

export interface ChurnOptions { quick: boolean; log: (line: string) => void }

const SENDER = fileURLToPath(new URL("./lib/flow-sender.js", import.meta.url));
const SINK = fileURLToPath(new URL("./lib/flow-sink.js", import.meta.url));
const SINK_PORT = 9999;
/** How long each state stays after its write is live before the next write (short against write → live itself). */
const HOLD_MS = 50;
/** Two egress IPs per cluster: each cluster's pair is the other's "foreign" addresses. */
const EGRESS = { churn: ["203.0.113.10", "203.0.113.11"], bulk: ["203.0.113.12", "203.0.113.13"] } as const;

/** `count` /30 mappings in 10.128.0.0/12, none of them a pod of the topology: the thousands of others present. */
function fillerMappings(count: number): { name: string; sourceCidr: string; egressIp: string }[] {
  const base = 10 * 2 ** 24 + 128 * 2 ** 16;
  return Array.from({ length: count }, (_, i) => {
    const at = base + 4 * i;
    const ip = [24, 16, 8, 0].map((shift) => Math.floor(at / 2 ** shift) % 256).join(".");
    return { name: `f${i}`, sourceCidr: `${ip}/30`, egressIp: EGRESS.bulk[i % 2] as string };
  });
}

interface SenderReport { attempted: number; sent: number; errors: number }

/** One pod's writer: a kind of change repeated in a loop, each written with ?wait=true so it is live before the next. */
interface Writer { kind: string; initial: string; changes: Change[]; errors: string[] }

async function must(response: Promise<ApiResponse>, what: string): Promise<void> {
  const r = await response;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
}

/**
 * Packets missing their mapping while mappings change. The real daemon holds two clusters: `churn` (pods a and b)
 * and `bulk` (pod c plus thousands of other mappings). Each pod opens new UDP flows without pause while its own
 * mapping is rewritten in a tight loop: pod a's egress IP flipped by PATCH, pod b's mapping deleted and created
 * again, pod c's flipped by a PUT of bulk's whole set. The server records every flow's source address. A flow that
 * arrives from anything but an egress IP its pod's mapping had during the run (the pod's own address, the
 * gateway's address, the other cluster's egress IPs) is a miss, and so is one that crossed the gateway while its
 * mapping was settled and came from another address than that state's (lib/churn-judge.ts); a flow that never
 * arrived is a drop (expected while pod b has no mapping: unmapped traffic is dropped, fail closed).
 */
export async function benchMappingChurn(options: ChurnOptions): Promise<Figure[]> {
  const fillers = options.quick ? 1_000 : 10_000;
  const seconds = options.quick ? 15 : 60;
  const rate = options.quick ? 300 : 500;
  const topo = await buildGatewayTopology();
  let daemon: DaemonHandle | undefined;
  try {
    daemon = await startDaemon(topo.gateway, {
      name: "gw-churn", logLevel: "info",
      api: { bodyLimitBytes: 64 * 1024 * 1024, waitTimeoutMs: 120_000 },
      dataplane: { driftCheckIntervalMs: 3_600_000 },
    });
    const d = daemon;
    for (const address of [...EGRESS.churn, ...EGRESS.bulk]) await must(d.api("POST", "/v1/egress-ips", { address }), "egress IP");
    const quotas = { mappings: 1_000_000, routes: 1_000, destinations: 1_000 };
    await must(d.api("POST", "/v1/clusters", { name: "churn", sourceRanges: ["10.244.1.0/25"], egressIps: [...EGRESS.churn], quotas }), "cluster churn");
    await must(d.api("POST", "/v1/clusters", { name: "bulk", sourceRanges: ["10.244.2.0/24", "10.128.0.0/12"], egressIps: [...EGRESS.bulk], quotas }), "cluster bulk");
    const p = ADDR.pods;
    const podA = { name: "pod-a", sourceCidr: p.a.cidr4, egressIp: EGRESS.churn[0] };
    const podB = { name: "pod-b", sourceCidr: p.b.cidr4, egressIp: EGRESS.churn[1] };
    const podC = { name: "pod-c", sourceCidr: p.c.cidr4, egressIp: EGRESS.bulk[0] };
    const others = fillerMappings(fillers);
    await must(d.api("PUT", "/v1/clusters/churn/mappings?wait=true", { mappings: [podA, podB] }), "churn mappings");
    await must(d.api("PUT", "/v1/clusters/bulk/mappings?wait=true", { mappings: [podC, ...others] }), "bulk mappings");
    // Source binding admits a pod's packets only from the next hop its cluster's route names.
    await must(d.api("PUT", "/v1/clusters/churn/routes?wait=true", { routes: [{ prefix: "10.244.1.0/25", via: ADDR.node.v4 }] }), "churn routes");
    await must(d.api("PUT", "/v1/clusters/bulk/routes?wait=true", { routes: [{ prefix: p.c.cidr4, via: ADDR.node.v4 }] }), "bulk routes");
    options.log(`  ${fillers.toLocaleString("en")} other mappings present; ${seconds} s of churn, ${rate} new flows/s per pod`);

    const sink = await background(topo.server, SINK, [String(SINK_PORT)], "listening");
    const pods: PodName[] = ["a", "b", "c"];
    const senders = await Promise.all(pods.map((pod) => background(topo.pods[pod], SENDER, [ADDR.server.v4, String(SINK_PORT), String(rate), pod], "sending")));

    const writers: Record<PodName, Writer> = {
      a: { kind: "PATCH egress IP", initial: podA.egressIp, changes: [], errors: [] },
      b: { kind: "DELETE + POST", initial: podB.egressIp, changes: [], errors: [] },
      c: { kind: `PUT of the whole set (${(fillers + 1).toLocaleString("en")})`, initial: podC.egressIp, changes: [], errors: [] },
    };
    // Date.now(), not performance.now(): the sender's and the sink's stamps are wall-clock times of the same host.
    const write = async (writer: Writer, egress: string | null, method: string, path: string, body?: unknown) => {
      const start = Date.now();
      // A request that fails outright (the connection reset) is a failed write too, with its state unknown.
      const r = await d.api(method, path, body).catch((error: unknown) => ({ status: 0, body: String(error) }));
      const failed = r.status >= 300 || r.status === 0;
      if (failed) writer.errors.push(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      writer.changes.push({ start, live: Date.now(), egress: failed ? undefined : egress });
      // A short hold after each change is live: the flows sent in it are judged against that state exactly.
      await sleep(HOLD_MS);
    };
    await sleep(1_000); // flows through the settled mappings first: a setup that drops everything shows here
    const started = performance.now();
    const until = started + seconds * 1_000;
    const loop = async (step: (i: number) => Promise<void>) => {
      for (let i = 1; performance.now() < until; i++) await step(i);
    };
    await Promise.all([
      loop(async (i) => {
        const egressIp = EGRESS.churn[i % 2] as string;
        await write(writers.a, egressIp, "PATCH", "/v1/clusters/churn/mappings/pod-a?wait=true", { egressIp });
      }),
      loop(async () => {
        await write(writers.b, null, "DELETE", "/v1/clusters/churn/mappings/pod-b?wait=true");
        await write(writers.b, podB.egressIp, "POST", "/v1/clusters/churn/mappings?wait=true", podB);
      }),
      loop(async (i) => {
        const egressIp = EGRESS.bulk[i % 2] as string;
        await write(writers.c, egressIp, "PUT", "/v1/clusters/bulk/mappings?wait=true", { mappings: [{ ...podC, egressIp }, ...others] });
      }),
    ]);
    const elapsed = (performance.now() - started) / 1_000;
    const sent = (await Promise.all(senders.map((s) => s.finish()))) as SenderReport[];
    await sleep(300); // the last datagrams in flight
    const seen = (await sink.finish()) as Record<string, Flow[]>;

    let misses = 0;
    let drops = 0;
    let flows = 0;
    let judged = 0;
    let changes = 0;
    const missNotes: string[] = [];
    const dropNotes: string[] = [];
    const changeNotes: string[] = [];
    const errors: string[] = [];
    pods.forEach((pod, index) => {
      const writer = writers[pod];
      const verdict = judgeFlows(seen[pod] ?? [], (sent[index] as SenderReport).sent, writer.initial, writer.changes);
      if (verdict.arrived === 0) throw new Error(`no flow of pod ${pod} arrived at all: the setup is broken, not the data plane`);
      const done = writer.changes.filter((c) => c.egress !== undefined).length;
      misses += verdict.misses;
      drops += verdict.drops;
      flows += verdict.sent;
      judged += verdict.judged;
      changes += done;
      errors.push(...writer.errors.slice(0, 3));
      const sources = Object.entries(verdict.bySource).map(([source, n]) => `${source} ×${n}`).join(", ");
      options.log(`  pod ${pod} (${writer.kind}): ${done} changes, ${verdict.sent} flows sent, ${verdict.arrived} arrived (${sources}), ` +
        `${verdict.judged} inside a settled window, misses ${verdict.misses}${verdict.samples.length > 0 ? ` e.g. ${verdict.samples.join("; ")}` : ""}`);
      if (verdict.misses > 0) missNotes.push(`pod ${pod}: ${verdict.misses} (e.g. ${verdict.samples.join("; ")})`);
      dropNotes.push(`pod ${pod} ${verdict.drops}`);
      const latency = median(writer.changes.map((c) => c.live - c.start));
      changeNotes.push(`pod ${pod} ${writer.kind}: ${done} (each live after ${round(latency, 0)} ms, median)${writer.errors.length > 0 ? ` (${writer.errors.length} failed)` : ""}`);
    });
    if (errors.length > 0) options.log(`  failed writes: ${errors.join(" | ")}\n  the daemon's log ends:\n${d.log().slice(-3_000)}`);
    const context = `${fillers.toLocaleString("en")} other mappings present, ${round(elapsed, 0)} s`;
    return [
      {
        id: "churn-misses", section: "data plane",
        title: `new flows leaving from an address that is not their pod's mapped egress IP, while the mappings change (${context})`,
        value: misses, unit: "flows", target: "0", met: misses === 0,
        notes: `${missNotes.length > 0 ? `${missNotes.join("; ")}; ` : ""}of ${flows.toLocaleString("en")} new flows, ${judged.toLocaleString("en")} of them sent and arrived inside a window where ` +
          "their mapping was settled (held to that window's egress IP, or to no arrival while unmapped), the others to any egress IP the mapping had",
      },
      {
        id: "churn-drops", section: "data plane",
        title: `new flows that never arrived while the mappings change (${context})`,
        value: drops, unit: "flows", target: "reported (pod b is unmapped between its DELETE and POST: dropped, fail closed)", met: null,
        notes: `${dropNotes.join(", ")}, of ${flows.toLocaleString("en")}; pods a and c always have a mapping, so their drops are the ones a change itself caused`,
      },
      {
        id: "churn-changes", section: "data plane",
        title: `mapping changes written through the API (each ?wait=true, held ${HOLD_MS} ms once live, then the next) during the churn run`,
        value: changes, unit: "changes", target: "reported", met: null,
        notes: `${round(changes / elapsed, 1)}/s; ${changeNotes.join("; ")}`,
      },
      {
        id: "churn-flows", section: "data plane",
        title: "new UDP flows opened (a new socket and source port each) from the three pods during the churn run",
        value: flows, unit: "flows", target: "reported", met: null,
        notes: `${round(flows / elapsed, 0)} flows/s`,
      },
    ];
  } finally {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo.destroy();
  }
}
