import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { callApi, startDaemon, type DaemonHandle } from "../lab/daemon.js";
import { buildGatewayTopology } from "../lab/topology.js";
import { errorMessage } from "../appliance/errors.js";
import { NftClient } from "../appliance/nft/nft-client.js";
import { NftTable } from "../appliance/nft/nft-table.js";
import { benchGuards, RULESET, syntheticMappings } from "./dataplane.js";
import { BENCH_ADDR } from "./lib/bench-topology.js";
import { NetnsRunner } from "./lib/netns-runner.js";
import type { Figure } from "./lib/results.js";
import { median, percentile, round } from "./lib/stats.js";

export interface ControlplaneOptions { quick: boolean; log: (line: string) => void }

const API_PORT = 18080;

/** The cost curve's sizes: the full run tries a million, and says what stops it if something does. */
const SIZES = { quick: [1_000, 10_000], full: [1_000, 10_000, 100_000, 1_000_000] };

/**
 * Writes timed per size. Past 10k every write waits for nft 1.0.6 to fetch the whole map first (≈0.7 s at 100k),
 * so fewer: the p99 of 20 is their second-slowest.
 */
function writesAt(size: number, quick: boolean): number {
  if (quick) return 10;
  return size <= 10_000 ? 100 : size <= 100_000 ? 20 : 5;
}

const BODY_LIMIT = 64 * 1024 * 1024;

const sizeText = (size: number): string => size.toLocaleString("en");

async function expectOk(response: Promise<{ status: number; body: unknown }>, what: string): Promise<void> {
  const r = await response;
  if (r.status >= 300) throw new Error(`${what} failed with ${r.status}: ${JSON.stringify(r.body).slice(0, 500)}`);
}

/** A cluster owning 10.0.0.0/8 with the four benchmark egress IPs, and `count` mappings. */
async function seed(daemon: DaemonHandle, count: number, first: boolean): Promise<void> {
  if (first) {
    for (const address of BENCH_ADDR.egress) await expectOk(daemon.api("POST", "/v1/egress-ips", { address }), "egress IP");
    // The benchmark's one tenant holds up to 100k mappings: far above the default quotas, set by the admin here.
    const quotas = { mappings: 1_000_000, routes: 1_000_000, destinations: 1_000_000 };
    await expectOk(daemon.api("POST", "/v1/clusters", { name: "bench", sourceRanges: ["10.0.0.0/8"], egressIps: [...BENCH_ADDR.egress], quotas }), "cluster");
  }
  const mappings = syntheticMappings(count).map(({ name, sourceCidr, egressIp }) => ({ name, sourceCidr, egressIp }));
  // Not ?wait=true (its longest wait is 120 s): stored first, then the applied revision is awaited. A big PUT on a
  // busy machine takes longer than the lab client's usual 30 s.
  const put = await callApi(daemon.socket, "PUT", "/v1/clusters/bench/mappings", daemon.adminToken, { mappings }, 600_000);
  if (put.status >= 300) throw new Error(`PUT ${count} mappings failed with ${put.status}: ${JSON.stringify(put.body).slice(0, 500)}`);
  await appliedAtLeast(daemon, (put.body as { revision: number }).revision, `PUT ${count} mappings`);
}

/** Waits until the gateway reports the revision applied (or an apply error), for at most ten minutes. */
async function appliedAtLeast(daemon: DaemonHandle, revision: number, what: string): Promise<void> {
  const deadline = performance.now() + 600_000;
  for (;;) {
    const status = await daemon.api("GET", "/v1/clusters/bench/status");
    const self = (status.body as { gateways?: { appliedRevision?: number; lastApply?: { ok?: boolean; error?: string } }[] }).gateways?.[0];
    if ((self?.appliedRevision ?? 0) >= revision) return;
    if (self?.lastApply?.ok === false) throw new Error(`${what}: the apply failed: ${self.lastApply.error ?? "?"}`);
    if (performance.now() > deadline) throw new Error(`${what}: revision ${revision} not applied within 600 s`);
    await sleep(250);
  }
}

/** The daemon's resident memory, from /proc. */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * Through the real daemon in a namespace, at each size of the cost curve: the daemon's memory after the PUT
 * of all mappings, and one mapping written until it is live in the kernel (POST with ?wait=true answers only
 * after the apply and its readback). At 10k: API reads beside the same server's /healthz, and API writes, with wrk.
 * Then the full apply, outside the daemon, at each size.
 */
export async function benchControlplane(options: ControlplaneOptions): Promise<Figure[]> {
  const figures: Figure[] = [];
  const sizes = options.quick ? SIZES.quick : SIZES.full;
  const topo = await buildGatewayTopology();
  let daemon: DaemonHandle | undefined;
  try {
    daemon = await startDaemon(topo.gateway, {
      name: "gw-bench", logLevel: "info",
      listen: [`127.0.0.1:${API_PORT}`],
      // The largest body the config allows (64 MiB): a million mappings need more, which is where the curve stops.
      api: { bodyLimitBytes: BODY_LIMIT, waitTimeoutMs: 120_000 },
      dataplane: { driftCheckIntervalMs: 3_600_000 },
    });
    daemon.log(); // keep the handle's output buffer short-lived
    let first = true;
    let largest: number | undefined;
    for (const size of sizes) {
      const refused = await seed(daemon, size, first).then(() => undefined, (error: unknown) => bodyNote(size, errorMessage(error)));
      first = false;
      if (refused !== undefined) {
        const reason = `${sizeText(size)} mappings not measured: ${refused.slice(0, 300)}`;
        options.log(`  ${reason}`);
        stopNote(figures, largest, reason);
        break;
      }
      largest = size;
      const pid = daemon.pid();
      const rss = pid ? rssMiB(pid) : Number.NaN;
      options.log(`  daemon RSS after a PUT of ${sizeText(size)} mappings: ${rss.toFixed(0)} MiB`);
      figures.push({
        id: size === 100_000 ? "cp-memory" : `cp-memory-${size}`, section: "control plane",
        title: `daemon memory after a PUT of ${sizeText(size)} mappings (RSS)`, value: round(rss, 0), unit: "MiB",
        target: "≤ 150 MB (at 100k)", met: size === 100_000 ? rss <= 150 : null, curve: { series: "daemon RSS after the PUT (MiB)", size },
      });
      figures.push(...await writeToLive(daemon, size, writesAt(size, options.quick), options));
      if (size === 10_000) figures.push(...await apiThroughput(daemon, topo.gateway.exec.bind(topo.gateway), options));
    }
  } finally {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo.destroy();
  }

  const applies = await benchFullApply(options);
  figures.push(...applies);
  return figures;
}

/** The size of a PUT of `size` mappings, said beside its failure when it is over the largest body the config allows. */
function bodyNote(size: number, error: string): string {
  const mappings = syntheticMappings(size).map(({ name, sourceCidr, egressIp }) => ({ name, sourceCidr, egressIp }));
  const bytes = Buffer.byteLength(JSON.stringify({ mappings }));
  return bytes > BODY_LIMIT ? `${error} (the PUT body is ${(bytes / 2 ** 20).toFixed(0)} MiB, over api.bodyLimitBytes' maximum of 64 MiB)` : error;
}

/** Says in the notes of the largest size's figures why the curve stops there. */
function stopNote(figures: Figure[], largest: number | undefined, reason: string): void {
  for (const figure of figures) {
    if (figure.curve && figure.curve.size === largest) figure.notes = [figure.notes, `the curve stops here: ${reason}`].filter(Boolean).join("; ");
  }
}

async function writeToLive(daemon: DaemonHandle, size: number, writes: number, options: ControlplaneOptions): Promise<Figure[]> {
  const latencies: number[] = [];
  for (let i = 0; i < writes; i++) {
    const started = performance.now();
    await expectOk(daemon.api("POST", "/v1/clusters/bench/mappings?wait=true", { name: "probe", sourceCidr: "10.200.0.0/30", egressIp: BENCH_ADDR.egress[1] }), "POST probe");
    latencies.push(performance.now() - started);
    await expectOk(daemon.api("DELETE", "/v1/clusters/bench/mappings/probe?wait=true"), "DELETE probe");
  }
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  options.log(`  write→live with ${sizeText(size)} mappings: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (${writes} writes)`);
  const target = size === 10_000 ? "p99 ≤ 100 ms (at 10k)" : size === 100_000 ? "p99 ≤ 150 ms (at 100k)" : "report";
  const met = size === 10_000 ? p99 <= 100 : size === 100_000 ? p99 <= 150 : null;
  return [{
    id: `cp-write-live-${size}`, section: "control plane",
    title: `one mapping written through the API until live in the kernel, ${sizeText(size)} mappings present (p99)`,
    value: round(p99, 1), unit: "ms", target, met,
    notes: `p50 ${p50.toFixed(1)} ms over ${writes} writes`, samples: latencies.map((l) => round(l, 1)),
    curve: { series: "write→live p99 (ms)", size },
  }, {
    id: `cp-write-live-p50-${size}`, section: "control plane",
    title: `one mapping written through the API until live in the kernel, ${sizeText(size)} mappings present (p50)`,
    value: round(p50, 1), unit: "ms", target: "report", met: null, notes: `over ${writes} writes`,
    curve: { series: "write→live p50 (ms)", size },
  }];
}

type Exec = (command: string, args: string[], options: { reject: false }) => Promise<{ stdout: unknown }>;

/**
 * wrk against the daemon's API listener: a read of one mapping and the same server's /healthz (no auth, no
 * database: the ceiling of the HTTP stack) with the same settings, interleaved A B A B so that both see the same
 * machine; the ratio is the median of the pairs' ratios. Then durable writes.
 */
async function apiThroughput(daemon: DaemonHandle, exec: Exec, options: ControlplaneOptions): Promise<Figure[]> {
  const wrk = async (args: string[]) => {
    const result = await exec("wrk", args, { reject: false });
    return Number(/Requests\/sec:\s+([\d.]+)/.exec(String(result.stdout))?.[1] ?? 0);
  };
  const settings = ["-t2", "-c32", `-d${options.quick ? "3s" : "10s"}`];
  const auth = `Authorization: Bearer ${daemon.adminToken}`;
  const pairs: { reads: number; health: number }[] = [];
  for (let i = 0; i < (options.quick ? 1 : 3); i++) {
    const reads = await wrk([...settings, "-H", auth, `http://127.0.0.1:${API_PORT}/v1/clusters/bench/mappings/m1`]);
    const health = await wrk([...settings, `http://127.0.0.1:${API_PORT}/healthz`]);
    pairs.push({ reads, health });
  }
  const ratios = pairs.map((p) => (p.health > 0 ? p.reads / p.health : 0));
  const ratio = median(ratios);
  const reads = median(pairs.map((p) => p.reads));
  const health = median(pairs.map((p) => p.health));
  options.log(`  API reads: ${Math.round(reads)} req/s, /healthz ${Math.round(health)} req/s, ratio ${ratio.toFixed(2)} (pairs ${ratios.map((r) => r.toFixed(2)).join(", ")})`);
  const figures: Figure[] = [{
    id: "cp-api-reads", section: "control plane", title: "API reads (GET one mapping) vs the same server's /healthz, wrk -t2 -c32, 10k mappings present",
    value: round(reads, 0), unit: "req/s", baseline: { title: "GET /healthz (no auth, no database), same settings", value: round(health, 0), unit: "req/s" },
    ratio: round(ratio, 3), target: "≥ 0.8× /healthz", met: ratio >= 0.8,
    notes: `median of ${pairs.length} interleaved pair(s) (reads, then /healthz); pair ratios ${ratios.map((r) => r.toFixed(3)).join(", ")}, spread ${(Math.max(...ratios) - Math.min(...ratios)).toFixed(3)}`,
    samples: ratios.map((r) => round(r, 3)),
  }];
  const script = join(daemon.dir, "write.lua");
  // Every request changes the description, so every one is a real, durable write with its own revision.
  writeFileSync(script, `counter = 0
request = function()
  counter = counter + 1
  local body = '{"description":"bench ' .. counter .. '"}'
  return wrk.format("PATCH", "/v1/egress-ips/${BENCH_ADDR.egress[3]}", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer ${daemon.adminToken}" }, body)
end
`);
  const writesPerSecond = await wrk([...settings, "-s", script, `http://127.0.0.1:${API_PORT}`]);
  options.log(`  API writes: ${Math.round(writesPerSecond)} req/s`);
  figures.push({ id: "cp-api-writes", section: "control plane", title: "API writes (PATCH, each durable, applies coalesced), wrk -t2 -c32, 10k mappings present", value: round(writesPerSecond, 0), unit: "req/s", target: "≥ 1,000 req/s", met: writesPerSecond >= 1_000 });
  return figures;
}

/**
 * What the reconciler does for a full pass (NftConverger.applyFull): render the state and its batch, one
 * `nft -j -f` transaction, then read the table back and compare it with what was meant. A difference fails
 * the benchmark: a fast apply that the kernel does not hold is no apply.
 */
async function benchFullApply(options: ControlplaneOptions): Promise<Figure[]> {
  const topo = await buildGatewayTopology();
  const figures: Figure[] = [];
  let largest: number | undefined;
  try {
    const table = new NftTable(new NftClient(new NetnsRunner(topo.gateway.name)), RULESET);
    for (const size of options.quick ? [10_000] : SIZES.full) {
      const mappings = syntheticMappings(size);
      const samples: number[] = [];
      const repetitions = options.quick || size > 100_000 ? 1 : 3;
      try {
        for (let r = 0; r < repetitions; r++) {
          const started = performance.now();
          const state = table.desired(mappings, [...BENCH_ADDR.egress], benchGuards("02:00:00:00:00:01"));
          await table.apply(state);
          const differences = await table.differences(state);
          samples.push(performance.now() - started);
          if (differences.length > 0) throw new Error(`the readback differs: ${differences.map((d) => `${d.what}: ${d.detail}`).join("; ")}`);
        }
      } catch (error) {
        const reason = `${sizeText(size)} mappings not measured: ${errorMessage(error).slice(0, 300)}`;
        options.log(`  full apply: ${reason}`);
        stopNote(figures, largest, reason);
        break;
      }
      largest = size;
      const value = median(samples);
      options.log(`  full apply of ${sizeText(size)} mappings: ${(value / 1000).toFixed(2)} s`);
      figures.push({
        id: `cp-full-apply-${size}`, section: "control plane", title: `full atomic apply of ${sizeText(size)} mappings (render, apply, read back and compare)`,
        value: round(value / 1000, 2), unit: "s", target: "≤ 2 s (at 100k)", met: size === 100_000 ? value <= 2_000 : null, samples: samples.map((s) => round(s / 1000, 2)),
        notes: `median of ${repetitions}; no dry run (nft -c): the transaction is atomic, a refused one changes nothing`,
        curve: { series: "full apply (s)", size },
      });
    }
  } finally {
    await topo.destroy();
  }
  return figures;
}
