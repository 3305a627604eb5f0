import { execa } from "execa";
import { FailClosedRules } from "../appliance/kernel/fail-closed.js";
import type { Mapping } from "../appliance/model.js";
import { batch, type Command } from "../appliance/nft/json.js";
import { desiredNftState, renderFull, type RulesetOptions } from "../appliance/nft/ruleset.js";
import type { GuardInputs } from "../appliance/nft/state.js";
import { BENCH_ADDR, buildBenchTopology, flood, type BenchTopology } from "./lib/bench-topology.js";
import { NetnsRunner } from "./lib/netns-runner.js";
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

/** Our real rules, guards included: the client's MAC is bound, so its packets pass the source-binding check. */
const oursWith = (count: number): Case => ({
  id: `maps-${count}`,
  title: `our maps, ${count.toLocaleString("en")} mappings`,
  apply: async (topo) => {
    await clearTables(topo);
    await topo.nft(batch(renderFull(RULESET, desiredNftState(RULESET, syntheticMappings(count), [...BENCH_ADDR.egress], benchGuards(topo.clientMac)))));
    await failClosed(topo, true);
  },
});

/** The same maps without source binding and fail-closed marking, to price the guards. */
const unguardedWith = (count: number): Case => ({
  id: `maps-${count}-unguarded`,
  title: `our maps without guards, ${count.toLocaleString("en")}`,
  apply: async (topo) => {
    await clearTables(topo);
    await topo.nft(batch(renderFull(UNGUARDED, desiredNftState(UNGUARDED, syntheticMappings(count), [...BENCH_ADDR.egress]))));
  },
});

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

async function measureRate(topo: BenchTopology, seconds: number): Promise<number> {
  await topo.gateway.exec("conntrack", ["-F"], { reject: false });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const result = await flood(topo, seconds);
  return result.received / result.seconds;
}

async function measureThroughput(topo: BenchTopology, seconds: number): Promise<number> {
  const server = topo.server.spawn("iperf3", ["-s", "-1", "-p", "5201"], { reject: false });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const client = await topo.client.exec("iperf3", ["-c", BENCH_ADDR.server, "-p", "5201", "-t", String(seconds), "-J"], { reject: false });
  await server;
  const report = JSON.parse(String(client.stdout) || "{}") as { end?: { sum_received?: { bits_per_second: number } } };
  return (report.end?.sum_received?.bits_per_second ?? 0) / 1e9;
}

export interface DataplaneOptions { quick: boolean; log: (line: string) => void }

/**
 * New flows per second (every packet a new UDP flow, from trafgen) and TCP throughput (iperf3), each case
 * measured in turn within every repetition so that all cases share the machine's conditions; medians.
 */
export async function benchDataplane(options: DataplaneOptions): Promise<Figure[]> {
  const seconds = options.quick ? 1 : 3;
  const repetitions = options.quick ? 1 : 5;
  const sizes = options.quick ? [1, 1_000, 10_000] : [1, 1_000, 10_000, 100_000];
  const largestSize = sizes.at(-1) as number;
  const rateCases: Case[] = [NO_NAT, STATIC_SNAT, ...sizes.map(oursWith), unguardedWith(largestSize), linearWith(10_000)];
  const topo = await buildBenchTopology();
  try {
    const rates = new Map<string, number[]>(rateCases.map((c) => [c.id, []]));
    for (let r = 0; r < repetitions; r++) {
      for (const c of rateCases) {
        await c.apply(topo);
        const rate = await measureRate(topo, seconds);
        rates.get(c.id)?.push(rate);
        options.log(`  new flows/s  ${c.title.padEnd(40)} ${Math.round(rate).toLocaleString("en")}`);
      }
    }
    const throughputCases = [NO_NAT, oursWith(1), oursWith(largestSize), unguardedWith(largestSize)];
    const throughput = new Map<string, number[]>(throughputCases.map((c) => [c.id, []]));
    for (let r = 0; r < repetitions; r++) {
      for (const c of throughputCases) {
        await c.apply(topo);
        const gbps = await measureThroughput(topo, seconds);
        throughput.get(c.id)?.push(gbps);
        options.log(`  throughput   ${c.title.padEnd(40)} ${gbps.toFixed(2)} Gbit/s`);
      }
    }
    const m = (id: string, from = rates) => median(from.get(id) ?? []);
    const largest = `maps-${sizes.at(-1)}`;
    const figures: Figure[] = [];
    const ratioFigure = (id: string, title: string, valueId: string, baseId: string, target: number, targetText: string, unit = "flows/s", from = rates): Figure => {
      const value = m(valueId, from);
      const base = m(baseId, from);
      const ratio = value / base;
      return {
        id, section: "data plane", title, value: round(value, unit === "flows/s" ? 0 : 2), unit,
        baseline: { title: baseId, value: round(base, unit === "flows/s" ? 0 : 2), unit }, ratio: round(ratio, 3),
        target: targetText, met: ratio >= target, samples: (from.get(valueId) ?? []).map((v) => round(v, 2)),
      };
    };
    figures.push(ratioFigure("dp-rate-size", `new flows/s with ${sizes.at(-1)?.toLocaleString("en")} mappings vs 1 mapping`, largest, "maps-1", 0.95, "≥ 0.95×"));
    const linear = m("linear-10000");
    const maps10k = m("maps-10000");
    figures.push({
      id: "dp-rate-linear", section: "data plane", title: "new flows/s, one rule per mapping at 10,000 vs our maps at 10,000",
      value: round(linear, 0), unit: "flows/s", baseline: { title: "maps-10000", value: round(maps10k, 0), unit: "flows/s" },
      ratio: round(linear / maps10k, 3), target: "ours must win (ratio < 1)", met: linear < maps10k,
      notes: `our maps are ${round(maps10k / linear, 1)}× faster`,
    });
    figures.push(ratioFigure("dp-rate-ceiling", `new flows/s, our rules at ${sizes.at(-1)?.toLocaleString("en")} mappings vs one static snat rule`, largest, "static-snat", 0.9, "≥ 0.9×"));
    figures.push(ratioFigure("dp-throughput", `TCP throughput through the gateway (${sizes.at(-1)?.toLocaleString("en")} mappings) vs plain forwarding`, largest, "no-nat", 0.9, "≥ 0.9×", "Gbit/s", throughput));
    // Every packet of the flood is a new flow, so the difference in time per packet is what the guards cost a new
    // connection: the mark, the claimed/bound lookups in forward, and the policy-rule lookup in routing.
    const guarded = m(largest);
    const unguarded = m(`${largest}-unguarded`);
    const perPacketNs = (1 / guarded - 1 / unguarded) * 1e9;
    figures.push({
      id: "dp-guard-cost", section: "data plane",
      title: `new flows/s with the guards (source binding, fail-closed mark and rule) vs the same ${largestSize.toLocaleString("en")} mappings without`,
      value: round(guarded, 0), unit: "flows/s", baseline: { title: `${largest}-unguarded`, value: round(unguarded, 0), unit: "flows/s" },
      ratio: round(guarded / unguarded, 3), target: "reported", met: null, samples: (rates.get(largest) ?? []).map((v) => round(v, 2)),
      notes: `≈ ${round(perPacketNs, 0)} ns more per new-flow packet (1/rate difference; negative means within noise)`,
    });
    figures.push(ratioFigure("dp-guard-throughput", `TCP throughput with the guards vs without (${largestSize.toLocaleString("en")} mappings)`,
      largest, `${largest}-unguarded`, 0.95, "≥ 0.95×", "Gbit/s", throughput));
    for (const size of sizes) {
      figures.push({
        id: `dp-rate-maps-${size}`, section: "data plane", title: `new flows/s, our maps, ${size.toLocaleString("en")} mappings`,
        value: round(m(`maps-${size}`), 0), unit: "flows/s", baseline: { title: "no-nat", value: round(m("no-nat"), 0), unit: "flows/s" },
        ratio: round(m(`maps-${size}`) / m("no-nat"), 3), target: "reported", met: null,
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
