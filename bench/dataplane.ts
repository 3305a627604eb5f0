import { execa } from "execa";
import { FailClosedRules } from "../appliance/kernel/fail-closed.js";
import type { Mapping } from "../appliance/model.js";
import { batch, type Command } from "../appliance/nft/json.js";
import { desiredNftState, renderFull, type RulesetOptions } from "../appliance/nft/ruleset.js";
import type { GuardInputs } from "../appliance/nft/state.js";
import { BENCH_ADDR, buildBenchTopology, flood, type BenchTopology } from "./lib/bench-topology.js";
import { NetnsRunner } from "./lib/netns-runner.js";
import { interleave, ratioSummary, roundRatios, type Contender } from "./lib/interleave.js";
import type { Figure } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

/** Our rules without any guard: the baseline the guards' cost is measured against. */
const UNGUARDED: RulesetOptions = { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop" };
const FAIL_CLOSED = { insideInterface: "inside", mark: 0x10000000, priority: 900 };
/** What the daemon loads with the default configuration: source binding and the fail-closed mark. */
export const RULESET: RulesetOptions = { ...UNGUARDED, sourceBinding: "next-hop", failClosedMark: FAIL_CLOSED.mark };

/** The client is the next hop of a route covering every synthetic mapping: its MAC is bound to the cluster's range. */
export const benchGuards = (clientMac: string): GuardInputs => ({ claimed: ["10.0.0.0/8"], bound: [{ mac: clientMac, prefix: "10.0.0.0/8" }] });

/** The fail-closed policy rules (as the daemon installs them) on or off: the routing lookup they add is part of the cost. */
async function failClosed(topo: BenchTopology, on: boolean): Promise<void> {
  const rules = new FailClosedRules(new NetnsRunner(topo.gateway.name), FAIL_CLOSED);
  if (on) {
    await rules.converge();
    return;
  }
  for (const rule of await rules.list()) {
    await topo.gateway.exec("ip", [`-${rule.family}`, "rule", "del", "pref", String(FAIL_CLOSED.priority), "iif", FAIL_CLOSED.insideInterface,
      "fwmark", `0/0x${rule.mask.toString(16)}`, "blackhole"]);
  }
}

/** `count` non-overlapping /30 mappings around the client's own /30, which sits in the middle of the list. */
export function syntheticMappings(count: number): Mapping[] {
  const center = ipToInt(BENCH_ADDR.clientPrefix.split("/")[0] as string);
  const first = center - 4 * Math.floor(count / 2);
  return Array.from({ length: count }, (_, i) => {
    const base = first + 4 * i;
    return {
      cluster: "bench", name: `m${i}`, sourceCidr: `${intToIp(base)}/30`,
      egressIp: base === center ? BENCH_ADDR.egress[0] : (BENCH_ADDR.egress[i % 4] as string),
      destinations: [], excludedDestinations: [], labels: {},
    };
  });
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function intToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

type Case = { id: string; title: string; apply: (topo: BenchTopology) => Promise<void> };

/** Without our table nothing sets the mark, so the fail-closed rules go with it (else everything is black-holed). */
const clearTables = async (topo: BenchTopology) => {
  await failClosed(topo, false);
  for (const table of ["egress_gateway", "bench_static", "bench_linear"]) {
    await topo.gateway.exec("nft", ["delete", "table", "inet", table], { reject: false });
  }
};

/** The JSON text of a batch, rendered once per case: at 1M mappings rendering takes seconds, and every round loads it again. */
function cachedBatch(render: () => Command[]): () => string {
  let text: string | undefined;
  return () => (text ??= JSON.stringify(batch(render())));
}

/** Our real rules, guards included: the client's MAC is bound, so its packets pass the source-binding check. */
const oursWith = (count: number): Case => {
  let text: (() => string) | undefined;
  return {
    id: `maps-${count}`,
    title: `our maps, ${count.toLocaleString("en")} mappings`,
    apply: async (topo) => {
      await clearTables(topo);
      text ??= cachedBatch(() => renderFull(RULESET, desiredNftState(RULESET, syntheticMappings(count), [...BENCH_ADDR.egress], benchGuards(topo.clientMac))));
      await topo.nft(text());
      await failClosed(topo, true);
    },
  };
};

/** The same maps without source binding and fail-closed marking, to price the guards. */
const unguardedWith = (count: number): Case => {
  const text = cachedBatch(() => renderFull(UNGUARDED, desiredNftState(UNGUARDED, syntheticMappings(count), [...BENCH_ADDR.egress])));
  return {
    id: `maps-${count}-unguarded`,
    title: `our maps without guards, ${count.toLocaleString("en")}`,
    apply: async (topo) => {
      await clearTables(topo);
      await topo.nft(text());
    },
  };
};

const NO_NAT: Case = { id: "no-nat", title: "plain forwarding, no NAT table", apply: clearTables };

const STATIC_SNAT: Case = {
  id: "static-snat",
  title: "conntrack with one static snat rule",
  apply: async (topo) => {
    await clearTables(topo);
    const t = { family: "inet", table: "bench_static" };
    await topo.nft(batch([
      { add: { table: { family: "inet", name: "bench_static" } } },
      { add: { chain: { ...t, name: "post", type: "nat", hook: "postrouting", prio: 100, policy: "accept" } } },
      { add: { rule: { ...t, chain: "post", expr: [{ match: { op: "==", left: { meta: { key: "oifname" } }, right: "outside" } }, { snat: { family: "ip", addr: BENCH_ADDR.egress[0] } }] } } },
    ]));
  },
};

/** What iptables-era tools do: one rule per mapping, evaluated in order until one matches. */
const linearWith = (count: number): Case => ({
  id: `linear-${count}`,
  title: `one rule per mapping, ${count.toLocaleString("en")} rules`,
  apply: async (topo) => {
    await clearTables(topo);
    const t = { family: "inet", table: "bench_linear" };
    const rules: Command[] = syntheticMappings(count).map((m) => ({
      add: { rule: { ...t, chain: "post", expr: [
        { match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: { prefix: { addr: m.sourceCidr.split("/")[0], len: 30 } } } },
        { snat: { family: "ip", addr: m.egressIp } },
      ] } },
    }));
    await topo.nft(batch([
      { add: { table: { family: "inet", name: "bench_linear" } } },
      { add: { chain: { ...t, name: "post", type: "nat", hook: "postrouting", prio: 100, policy: "accept" } } },
      ...rules,
    ]));
  },
});

interface Measured { value: number; perCpu?: number | undefined }

/** New flows per second of wall time and per CPU-second trafgen was given (see flood). */
async function measureRate(topo: BenchTopology, seconds: number): Promise<Measured> {
  await topo.gateway.exec("conntrack", ["-F"], { reject: false });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const result = await flood(topo, seconds);
  return { value: result.received / result.seconds, perCpu: result.cpuSeconds ? result.received / result.cpuSeconds : undefined };
}

async function measureThroughput(topo: BenchTopology, seconds: number): Promise<Measured> {
  const server = topo.server.spawn("iperf3", ["-s", "-1", "-p", "5201"], { reject: false });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const client = await topo.client.exec("iperf3", ["-c", BENCH_ADDR.server, "-p", "5201", "-t", String(seconds), "-J"], { reject: false });
  await server;
  const report = JSON.parse(String(client.stdout) || "{}") as { end?: { sum_received?: { bits_per_second: number } } };
  return { value: (report.end?.sum_received?.bits_per_second ?? 0) / 1e9 };
}

export interface DataplaneOptions { quick: boolean; log: (line: string) => void }

/** A size whose first load takes longer than this is left out of the curve (the reason goes into the notes). */
const LOAD_LIMIT_MS = 120_000;

interface Scale { seconds: number; rounds: number; sizes: number[]; largest: number }

/** Full mode: the curve up to 1M mappings; the ratio figures (and throughput) at 100k, where performance.md sets them. */
const scaleOf = (quick: boolean): Scale => (quick
  ? { seconds: 1, rounds: 1, sizes: [1, 1_000, 10_000], largest: 10_000 }
  : { seconds: 3, rounds: 5, sizes: [1, 1_000, 10_000, 100_000, 1_000_000], largest: 100_000 });

const fmt = (n: number) => Math.round(n).toLocaleString("en");

/**
 * Each case's rate in every round, the cases of a round in turn (interleave). Cases compared by a ratio figure sit
 * next to each other in the round. A case whose load fails or takes longer than LOAD_LIMIT_MS is dropped, and why.
 */
async function measureRounds(
  topo: BenchTopology, cases: readonly Case[], scale: Scale, options: DataplaneOptions,
  measure: (topo: BenchTopology, seconds: number) => Promise<Measured>, label: string, format: (v: number) => string,
): Promise<{ samples: Map<string, number[]>; perCpu: Map<string, number[]>; dropped: Map<string, string> }> {
  const dropped = new Map<string, string>();
  const perCpu = new Map<string, number[]>(cases.map((c) => [c.id, []]));
  const contenders: Contender[] = cases.map((c) => ({
    id: c.id,
    measure: async () => {
      const started = performance.now();
      try {
        await c.apply(topo);
      } catch (error) {
        dropped.set(c.id, `loading failed: ${(error instanceof Error ? error.message : String(error)).slice(0, 200)}`);
        options.log(`  ${label} ${c.title}: ${dropped.get(c.id)}`);
        return undefined;
      }
      const loadMs = performance.now() - started;
      if (loadMs > LOAD_LIMIT_MS) {
        dropped.set(c.id, `loading took ${Math.round(loadMs / 1000)} s (limit ${LOAD_LIMIT_MS / 1000} s per round)`);
        options.log(`  ${label} ${c.title}: ${dropped.get(c.id)}`);
        return undefined;
      }
      const { value, perCpu: cpuRate } = await measure(topo, scale.seconds);
      if (cpuRate !== undefined) perCpu.get(c.id)?.push(cpuRate);
      options.log(`  ${label} ${c.title.padEnd(40)} ${format(value)}${cpuRate === undefined ? "" : ` (${fmt(cpuRate)} per CPU-second)`}`
        + `${loadMs > 5_000 ? ` (loaded in ${(loadMs / 1000).toFixed(1)} s)` : ""}`);
      return value;
    },
  }));
  const samples = await interleave(scale.rounds, contenders);
  await clearTables(topo);
  return { samples, perCpu, dropped };
}

/**
 * New flows per second (every packet a new UDP flow, from trafgen) and TCP throughput (iperf3). The cases run in
 * rounds (interleave): each ratio figure is the median of its per-round ratios, the spread of those ratios in its notes.
 */
export async function benchDataplane(options: DataplaneOptions): Promise<Figure[]> {
  const scale = scaleOf(options.quick);
  const { sizes, largest } = scale;
  const big = `maps-${largest}`;
  const ours = new Map(sizes.map((size) => [size, oursWith(size)]));
  const our = (size: number) => ours.get(size) ?? oursWith(size);
  // The two ratio figures of performance.md compare neighbours: static snat | largest | 1 mapping | largest unguarded.
  const rateCases: Case[] = [
    STATIC_SNAT, our(largest), our(1), unguardedWith(largest), NO_NAT,
    ...sizes.filter((s) => s !== 1 && s !== largest).map(our), linearWith(10_000),
  ];
  const topo = await buildBenchTopology();
  try {
    const rates = await measureRounds(topo, rateCases, scale, options, measureRate, "new flows/s ", fmt);
    const throughputCases = [NO_NAT, our(largest), our(1), unguardedWith(largest)];
    const throughput = await measureRounds(topo, throughputCases, scale, options, measureThroughput, "throughput  ", (v) => `${v.toFixed(2)} Gbit/s`);
    const m = (id: string, from = rates.samples) => median(from.get(id) ?? []);
    const how = `${scale.seconds} s per case, all cases in turn, ${scale.rounds} round${scale.rounds === 1 ? "" : "s"}: median of the per-round ratios`;
    const cpuNote = (valueId: string, baseId: string): string => {
      const cpu = ratioSummary(roundRatios(rates.perCpu, valueId, baseId));
      return cpu.samples.length === 0 ? "" : `; per CPU-second of the sender (the per-packet work, whatever share of a core it got): median ${round(cpu.ratio, 3)}, ${cpu.spread}`;
    };
    const ratioFigure = (id: string, title: string, valueId: string, baseId: string, target: number, targetText: string, unit = "flows/s", from = rates.samples): Figure => {
      const { ratio, samples, spread } = ratioSummary(roundRatios(from, valueId, baseId));
      const digits = unit === "flows/s" ? 0 : 2;
      return {
        id, section: "data plane", title, value: round(m(valueId, from), digits), unit,
        baseline: { title: baseId, value: round(m(baseId, from), digits), unit }, ratio: round(ratio, 3),
        target: targetText, met: options.quick ? null : ratio >= target, samples,
        notes: `${how}; ${spread}${unit === "flows/s" ? cpuNote(valueId, baseId) : ""}`,
      };
    };
    const n = largest.toLocaleString("en");
    const figures: Figure[] = [
      ratioFigure("dp-rate-size", `new flows/s with ${n} mappings vs 1 mapping`, big, "maps-1", 0.95, "≥ 0.95×"),
      ratioFigure("dp-rate-ceiling", `new flows/s, our rules at ${n} mappings vs one static snat rule`, big, "static-snat", 0.9, "≥ 0.9×"),
    ];
    const linear = ratioSummary(roundRatios(rates.samples, "linear-10000", "maps-10000"));
    figures.push({
      id: "dp-rate-linear", section: "data plane", title: "new flows/s, one rule per mapping at 10,000 vs our maps at 10,000",
      value: round(m("linear-10000"), 0), unit: "flows/s", baseline: { title: "maps-10000", value: round(m("maps-10000"), 0), unit: "flows/s" },
      ratio: round(linear.ratio, 3), target: "ours must win (ratio < 1)", met: linear.ratio < 1, samples: linear.samples,
      notes: `our maps are ${round(1 / linear.ratio, 1)}× faster; ${how}; ${linear.spread}`,
    });
    figures.push(ratioFigure("dp-throughput", `TCP throughput through the gateway (${n} mappings) vs plain forwarding`, big, "no-nat", 0.9, "≥ 0.9×", "Gbit/s", throughput.samples));
    // Every packet of the flood is a new flow, so the difference in time per packet is what the guards cost a new
    // connection: the mark, the claimed/bound lookups in forward, and the policy-rule lookup in routing.
    const guard = ratioFigure("dp-guard-cost",
      `new flows/s with the guards (source binding, fail-closed mark and rule) vs the same ${n} mappings without`, big, `${big}-unguarded`, 0, "reported");
    const perPacketNs = (1 / m(big) - 1 / m(`${big}-unguarded`)) * 1e9;
    figures.push({ ...guard, met: null, notes: `≈ ${round(perPacketNs, 0)} ns more per new-flow packet (1/rate difference of the medians; negative means within noise); ${guard.notes}` });
    figures.push(ratioFigure("dp-guard-throughput", `TCP throughput with the guards vs without (${n} mappings)`, big, `${big}-unguarded`, 0.95, "≥ 0.95×", "Gbit/s", throughput.samples));
    for (const size of sizes) {
      const id = `maps-${size}`;
      const vsNoNat = ratioSummary(roundRatios(rates.samples, id, "no-nat"));
      const vsOne = ratioSummary(roundRatios(rates.samples, id, "maps-1"));
      const dropped = rates.dropped.get(id);
      if ((rates.samples.get(id) ?? []).length === 0) {
        figures.push({
          id: `dp-rate-maps-${size}`, section: "data plane", title: `new flows/s, our maps, ${size.toLocaleString("en")} mappings`,
          value: 0, unit: "flows/s", target: "reported", met: null, notes: `not measured: ${dropped ?? "no sample"}`,
        });
        continue;
      }
      figures.push({
        id: `dp-rate-maps-${size}`, section: "data plane", title: `new flows/s, our maps, ${size.toLocaleString("en")} mappings`,
        value: round(m(id), 0), unit: "flows/s", baseline: { title: "no-nat", value: round(m("no-nat"), 0), unit: "flows/s" },
        ratio: round(vsNoNat.ratio, 3), target: "reported", met: null, samples: (rates.samples.get(id) ?? []).map((v) => round(v, 0)),
        curve: { series: "new flows/s (our rules)", size },
        notes: `${how}; vs no NAT: ${vsNoNat.spread}; vs 1 mapping: median ${round(vsOne.ratio, 3)}, ${vsOne.spread}${cpuNote(id, "maps-1")}`
          + (dropped ? `; dropped after ${(rates.samples.get(id) ?? []).length} round(s): ${dropped}` : ""),
      });
    }
    return figures;
  } finally {
    await topo.destroy();
  }
}

/** Concurrent UDP flows to one destination (ip, port) through one egress IP before port allocation fails. */
export async function benchPortRange(options: DataplaneOptions): Promise<Figure> {
  const topo = await buildBenchTopology();
  try {
    await topo.gateway.sysctl({ "net.netfilter.nf_conntrack_udp_timeout": 120, "net.netfilter.nf_conntrack_udp_timeout_stream": 120 });
    await oursWith(1).apply(topo);
    // Four client addresses (all in the mapped /30) so the client itself offers far more than 65,535 ports.
    const sources = ["10.128.0.4", "10.128.0.5", "10.128.0.6", "10.128.0.7"];
    for (const source of sources.filter((s) => s !== BENCH_ADDR.client)) await topo.client.ip(["addr", "add", `${source}/32`, "dev", "eth0"]);
    await topo.gateway.exec("conntrack", ["-F"], { reject: false });
    await flood(topo, options.quick ? 3 : 6, { sources, destinationPort: 443 });
    const count = Number(String((await topo.gateway.exec("conntrack", ["-C"])).stdout).trim());
    const baseline = 64_512;
    options.log(`  concurrent flows to one destination through one egress IP: ${count}`);
    return {
      id: "dp-port-range", section: "data plane", title: "concurrent flows to one destination (ip, port) through one egress IP",
      value: count, unit: "flows", baseline: { title: "kernel port range 1024-65535", value: baseline, unit: "flows" },
      ratio: round(count / baseline, 3), target: "≥ 0.93×", met: count / baseline >= 0.93,
      notes: "UDP flows from 4 client addresses with random source ports to 203.0.113.200:443; counted with conntrack -C",
    };
  } finally {
    await topo.destroy();
  }
}

export const nftVersion = async (): Promise<string> => String((await execa("nft", ["--version"], { reject: false })).stdout).trim();
