import type { Mapping } from "../appliance/model.js";
import { batch } from "../appliance/nft/json.js";
import { desiredNftState, renderFull } from "../appliance/nft/ruleset.js";
import { compilePolicies, PolicyCompiler, ruleCounter, type CompiledPolicies, type MappingPolicyInput } from "../appliance/policy/compile.js";
import { startDaemon, type DaemonHandle } from "../lab/daemon.js";
import { buildGatewayTopology } from "../lab/topology.js";
import type { Netns } from "../lab/netns.js";
import { benchGuards, RULESET, syntheticMappings } from "./dataplane.js";
import { BENCH_ADDR, buildBenchTopology, flood, type BenchTopology } from "./lib/bench-topology.js";
import { changeRule, ownMappingLayout, spreadLayout, type PolicyLayout } from "./lib/policy-workload.js";
import { interleave, ratioSummary, roundRatios, type Contender } from "./lib/interleave.js";
import type { Figure } from "./lib/results.js";
import { median, percentile, round } from "./lib/stats.js";

export interface PolicyBenchOptions { quick: boolean; log: (line: string) => void }

const CLUSTER_SOURCES = ["10.0.0.0/8"];

interface Scale {
  /** Rules of the spread layout (and destinations of the own-mapping one). */
  rules: number;
  perMapping: number;
  perRule: number;
  pairs: number;
  seconds: number;
  changes: number;
}

const scaleOf = (quick: boolean): Scale => (quick
  ? { rules: 1_000, perMapping: 100, perRule: 11, pairs: 1, seconds: 2, changes: 10 }
  : { rules: 10_000, perMapping: 100, perRule: 11, pairs: 5, seconds: 4, changes: 50 });

const fmt = (n: number) => Math.round(n).toLocaleString("en");

const compile = (policies: readonly MappingPolicyInput[]): CompiledPolicies =>
  compilePolicies({ policies, floors: [], clusterSources: new Map([["bench", CLUSTER_SOURCES]]), addressesOf: () => [] });

/** The daemon's whole table (guards included, as dataplane.ts loads it), with the policy sets empty or filled. */
async function load(topo: BenchTopology, mappings: readonly Mapping[], layout: PolicyLayout | undefined): Promise<void> {
  const compiled = layout ? compile(layout.policies) : undefined;
  await topo.nft(batch(renderFull(RULESET, desiredNftState(RULESET, mappings, [...BENCH_ADDR.egress], benchGuards(topo.clientMac), compiled))));
}

async function counterPackets(ns: Netns, table: string, name: string): Promise<number> {
  const listing = JSON.parse((await ns.exec("nft", ["-j", "list", "counter", "inet", table, name])).stdout) as { nftables: { counter?: { packets: number } }[] };
  return listing.nftables.find((item) => item.counter)?.counter?.packets ?? 0;
}

/**
 * New flows per second through the loaded table (every trafgen packet a new UDP flow). With a policy, the rule
 * meant to allow the traffic must have counted what reached the server: a refused flow would never arrive, and
 * one that passed without the allow lookup would not be the cost measured here.
 */
async function rate(topo: BenchTopology, seconds: number, layout: PolicyLayout | undefined): Promise<number> {
  await topo.gateway.exec("conntrack", ["-F"], { reject: false });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const counter = layout && ruleCounter("bench", layout.own.mapping, layout.own.rule);
  const before = counter ? await counterPackets(topo.gateway, RULESET.table, counter) : 0;
  const result = await flood(topo, seconds);
  if (result.received === 0) throw new Error(`no flow reached the server${layout ? ` with the ${layout.id} policy` : ""}`);
  if (counter) {
    const allowed = (await counterPackets(topo.gateway, RULESET.table, counter)) - before;
    // Random port pairs now and then repeat within the 1 s UDP timeout: such a packet is not a new flow.
    if (allowed < 0.99 * result.received) throw new Error(`the ${layout.id} policy's allow rule counted ${allowed} flows, the server received ${result.received}`);
  }
  return result.received / result.seconds;
}

/**
 * Figure 1: new flows per second with the policy lookups filled vs the same table with the policy sets empty,
 * alternating within each pair so that both share the machine's conditions; the median of the pairs' ratios.
 */
async function benchRate(options: PolicyBenchOptions, scale: Scale): Promise<Figure[]> {
  const mappings = syntheticMappings(scale.rules / scale.perMapping);
  const layouts = [spreadLayout(mappings, scale.perMapping), ownMappingLayout(mappings, scale.rules, scale.perRule)];
  const topo = await buildBenchTopology();
  let samples: Map<string, number[]>;
  try {
    const contender = (layout: PolicyLayout | undefined): Contender => ({
      id: layout?.id ?? "none",
      measure: async () => {
        await load(topo, mappings, layout);
        const value = await rate(topo, scale.seconds, layout);
        options.log(`  new flows/s  ${(layout?.title ?? `no policy (${mappings.length} mappings)`).padEnd(58)} ${fmt(value)}`);
        return value;
      },
    });
    samples = await interleave(scale.pairs, [contender(undefined), ...layouts.map(contender)]);
  } finally {
    await topo.destroy();
  }
  const base = median(samples.get("none") ?? []);
  return layouts.map((layout): Figure => {
    const { ratio, samples: ratios, spread } = ratioSummary(roundRatios(samples, layout.id, "none"));
    return {
      id: `pol-rate-${layout.id}`, section: "data plane",
      title: `new connections/s allowed by an egress policy of ${layout.title} vs no policy (same table, policy sets empty)`,
      value: round(median(samples.get(layout.id) ?? []), 0), unit: "flows/s", baseline: { title: "no policy", value: round(base, 0), unit: "flows/s" },
      ratio: round(ratio, 3), target: "≥ 0.9×", met: options.quick ? null : ratio >= 0.9, samples: ratios,
      notes: `unpaced trafgen, one-packet UDP flows, each counted by the allow rule; ${mappings.length} mappings; ${scale.seconds} s per case, median ratio of ${scale.pairs} alternating pairs; ${spread}`,
    };
  });
}

/** Milliseconds of compilePolicies over the whole input: cold (nothing cached: fresh cluster names) and warm (the same input again). */
function benchCompile(layout: PolicyLayout, runs: number): { cold: number[]; warm: number[] } {
  const cold: number[] = [];
  const warm: number[] = [];
  for (let r = 0; r < runs; r++) {
    // A description of its own in every rule: no decomposition cached from before applies (they are keyed by the rules).
    const tag = `compile-${r}-${Date.now()}`;
    const policies = layout.policies.map((p) => ({ ...p, cluster: tag, policy: { ...p.policy, rules: p.policy.rules.map((rule) => ({ ...rule, description: tag })) } }));
    const compiler = new PolicyCompiler();
    const input = { policies, floors: [], clusterSources: new Map([["bench", CLUSTER_SOURCES]]), addressesOf: () => [] };
    let started = performance.now();
    compiler.compile(input);
    cold.push(performance.now() - started);
    started = performance.now();
    compiler.compile(input);
    warm.push(performance.now() - started);
  }
  return { cold, warm };
}

async function expectOk(response: Promise<{ status: number; body: unknown }>, what: string): Promise<void> {
  const r = await response;
  if (r.status >= 300) throw new Error(`${what} failed with ${r.status}: ${JSON.stringify(r.body).slice(0, 500)}`);
}

const WAIT = "wait=true&waitTimeoutMs=120000";
const policyPath = (mapping: string) => `/v1/clusters/bench/mappings/${mapping}/policy?${WAIT}`;

async function allowElements(ns: Netns): Promise<number> {
  const listing = JSON.parse((await ns.exec("nft", ["-j", "list", "map", "inet", RULESET.table, "policy_allow_v4"])).stdout) as { nftables: { map?: { elem?: unknown[] } }[] };
  return listing.nftables.find((item) => item.map)?.map?.elem?.length ?? 0;
}

/** The daemon must hold exactly the elements the compiler makes of the layout: else the change loop would not run with them present. */
async function expectElements(ns: Netns, layout: PolicyLayout, extra = 0): Promise<void> {
  const expected = compile(layout.policies).sets.policy_allow_v4.size + extra;
  const found = await allowElements(ns);
  if (found !== expected) throw new Error(`policy_allow_v4 holds ${found} elements, the ${layout.id} layout makes ${expected}`);
}

/**
 * One rule added to (then removed from) the traffic's mapping, alternately, `changes` times: each a PUT with
 * ?wait=true, which answers once the change is applied in the kernel and read back. Each added rule is new, so
 * an add compiles that mapping afresh; a removal returns to a policy compiled before.
 */
async function changeLoop(daemon: DaemonHandle, layout: PolicyLayout, changes: number): Promise<{ add: number[]; remove: number[] }> {
  const own = layout.policies.find((p) => p.mapping === layout.own.mapping);
  if (!own) throw new Error("the layout has no policy on the traffic's mapping");
  const add: number[] = [];
  const remove: number[] = [];
  for (let i = 0; i < changes; i++) {
    const adding = i % 2 === 0;
    const policy = adding ? { ...own.policy, rules: [...own.policy.rules, changeRule(i)] } : own.policy;
    const started = performance.now();
    await expectOk(daemon.api("PUT", policyPath(own.mapping), policy), `PUT policy change ${i}`);
    (adding ? add : remove).push(performance.now() - started);
  }
  return { add, remove };
}

/**
 * Figure 2 through the real daemon in a namespace: the rules written with the API as a tenant would, then one
 * mapping's policy changed again and again with them present, for both layouts. Also the compile time of the
 * whole input, cold and warm.
 */
async function benchChange(options: PolicyBenchOptions, scale: Scale): Promise<Figure[]> {
  const mappings = syntheticMappings(scale.rules / scale.perMapping);
  const layouts = [spreadLayout(mappings, scale.perMapping), ownMappingLayout(mappings, scale.rules, scale.perRule)];
  const figures: Figure[] = [];
  const topo = await buildGatewayTopology();
  let daemon: DaemonHandle | undefined;
  try {
    daemon = await startDaemon(topo.gateway, {
      name: "gw-policy-bench", logLevel: "info",
      api: { bodyLimitBytes: 64 * 1024 * 1024, waitTimeoutMs: 120_000 },
      dataplane: { driftCheckIntervalMs: 3_600_000 },
      // To see what the daemon did during a run: EGW_BENCH_DAEMON_LOG=/path/to/file.
      ...(process.env["EGW_BENCH_DAEMON_LOG"] ? { logFile: process.env["EGW_BENCH_DAEMON_LOG"] } : {}),
    });
    for (const address of BENCH_ADDR.egress) await expectOk(daemon.api("POST", "/v1/egress-ips", { address }), "egress IP");
    await expectOk(daemon.api("POST", "/v1/clusters", { name: "bench", sourceRanges: CLUSTER_SOURCES, egressIps: [...BENCH_ADDR.egress] }), "cluster");
    const body = { mappings: mappings.map(({ name, sourceCidr, egressIp }) => ({ name, sourceCidr, egressIp })) };
    await expectOk(daemon.api("PUT", `/v1/clusters/bench/mappings?${WAIT}`, body), "PUT mappings");
    let present = new Set<string>();
    for (const layout of layouts) {
      const started = performance.now();
      const wanted = new Set(layout.policies.map((p) => p.mapping));
      for (const gone of [...present].filter((m) => !wanted.has(m))) await expectOk(daemon.api("DELETE", policyPath(gone)), `DELETE policy of ${gone}`);
      for (const p of layout.policies) await expectOk(daemon.api("PUT", policyPath(p.mapping), p.policy), `PUT policy of ${p.mapping}`);
      present = wanted;
      await expectElements(topo.gateway, layout);
      options.log(`  ${layout.title}: written through the API and live in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const { add, remove } = await changeLoop(daemon, layout, scale.changes);
      await expectElements(topo.gateway, layout);
      const all = [...add, ...remove];
      const p50 = percentile(all, 50);
      const p99 = percentile(all, 99);
      options.log(`  policy change live with ${layout.title}: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (adds p50 ${median(add).toFixed(1)}, removes p50 ${median(remove).toFixed(1)})`);
      figures.push({
        id: `pol-change-live-${layout.id}`, section: "control plane",
        title: `one rule added to or removed from a mapping's policy through the API until live in the kernel, ${layout.title} present (p99)`,
        value: round(p99, 1), unit: "ms", target: "p99 ≤ 100 ms", met: options.quick ? null : p99 <= 100,
        notes: `p50 ${p50.toFixed(1)} ms over ${all.length} PUTs ?wait=true (adds: p50 ${median(add).toFixed(1)}, p99 ${percentile(add, 99).toFixed(1)}; `
          + `removes: p50 ${median(remove).toFixed(1)}, p99 ${percentile(remove, 99).toFixed(1)}); the real daemon, log level info`,
        samples: all.map((l) => round(l, 1)),
      });
    }
  } finally {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo.destroy();
  }
  for (const layout of layouts) {
    const runs = options.quick ? 2 : 5;
    const { cold, warm } = benchCompile(layout, runs);
    const elements = compile(layout.policies).sets.policy_allow_v4.size;
    options.log(`  compile ${layout.title}: cold ${median(cold).toFixed(1)} ms, warm ${median(warm).toFixed(1)} ms (${fmt(elements)} elements)`);
    figures.push({
      id: `pol-compile-${layout.id}`, section: "control plane", title: `compiling ${layout.title} (PolicyCompiler, cold: nothing cached)`,
      value: round(median(cold), 1), unit: "ms", baseline: { title: "warm (the same input again)", value: round(median(warm), 2), unit: "ms" },
      target: "reported", met: null, samples: cold.map((c) => round(c, 1)),
      notes: `${fmt(elements)} allow elements; median of ${runs}; warm (the same compiler, the same input) is what every reconcile pass pays with the policies unchanged`,
    });
  }
  return figures;
}

/**
 * The egress policy's cost (issue 10): new connections per second with a large policy in the allow path vs the
 * same table without a policy, and a policy change live in the kernel with that policy present.
 */
export async function benchPolicy(options: PolicyBenchOptions): Promise<Figure[]> {
  const scale = scaleOf(options.quick);
  // EGW_BENCH_POLICY=change runs only the change figures (the connection rate takes most of the suite's time).
  const rate = process.env["EGW_BENCH_POLICY"] === "change" ? [] : await benchRate(options, scale);
  return [...rate, ...await benchChange(options, scale)];
}
