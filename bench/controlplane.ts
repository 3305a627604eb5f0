import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startDaemon, type DaemonHandle } from "../lab/daemon.js";
import { buildGatewayTopology } from "../lab/topology.js";
import { NftClient } from "../appliance/nft/nft-client.js";
import { desiredNftState, renderFull } from "../appliance/nft/ruleset.js";
import { benchGuards, RULESET, syntheticMappings } from "./dataplane.js";
import { BENCH_ADDR } from "./lib/bench-topology.js";
import { NetnsRunner } from "./lib/netns-runner.js";
import type { Figure } from "./lib/results.js";
import { median, percentile, round } from "./lib/stats.js";

export interface ControlplaneOptions { quick: boolean; log: (line: string) => void }

const API_PORT = 18080;

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
  await expectOk(daemon.api("PUT", "/v1/clusters/bench/mappings?wait=true&waitTimeoutMs=120000", { mappings }), `PUT ${count} mappings`);
}

/** The daemon's resident memory, from /proc. */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * Through the real daemon in a namespace: one mapping written until it is live in the kernel (POST with
 * ?wait=true answers only after the apply and its readback), with 10, 1k and 10k mappings present; the
 * memory of the daemon holding 100k mappings; API throughput with wrk.
 */
export async function benchControlplane(options: ControlplaneOptions): Promise<Figure[]> {
  const figures: Figure[] = [];
  const topo = await buildGatewayTopology();
  let daemon: DaemonHandle | undefined;
  try {
    daemon = await startDaemon(topo.gateway, {
      name: "gw-bench",
      listen: [`127.0.0.1:${API_PORT}`],
      api: { bodyLimitBytes: 64 * 1024 * 1024, waitTimeoutMs: 120_000 },
      dataplane: { driftCheckIntervalMs: 3_600_000 },
    });
    daemon.log(); // keep the handle's output buffer short-lived
    const writes = options.quick ? 10 : 100;
    const sizes = options.quick ? [10, 1_000] : [10, 1_000, 10_000];
    let first = true;
    for (const size of sizes) {
      await seed(daemon, size, first);
      first = false;
      const latencies: number[] = [];
      for (let i = 0; i < writes; i++) {
        const started = performance.now();
        await expectOk(daemon.api("POST", "/v1/clusters/bench/mappings?wait=true", { name: "probe", sourceCidr: "10.200.0.0/30", egressIp: BENCH_ADDR.egress[1] }), "POST probe");
        latencies.push(performance.now() - started);
        await expectOk(daemon.api("DELETE", "/v1/clusters/bench/mappings/probe?wait=true"), "DELETE probe");
      }
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      options.log(`  write→live with ${size.toLocaleString("en")} mappings: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
      figures.push({
        id: `cp-write-live-${size}`, section: "control plane",
        title: `one mapping written through the API until live in the kernel, ${size.toLocaleString("en")} mappings present (p99)`,
        value: round(p99, 1), unit: "ms", target: "p99 ≤ 100 ms (at 10k)", met: size === 10_000 ? p99 <= 100 : null,
        notes: `p50 ${p50.toFixed(1)} ms over ${writes} writes`, samples: latencies.map((l) => round(l, 1)),
      });
    }

    const wrk = async (args: string[]) => {
      const result = await topo.gateway.exec("wrk", args, { reject: false });
      return Number(/Requests\/sec:\s+([\d.]+)/.exec(String(result.stdout))?.[1] ?? 0);
    };
    const seconds = options.quick ? "3s" : "10s";
    const auth = `Authorization: Bearer ${daemon.adminToken}`;
    const reads = await wrk(["-t2", "-c32", `-d${seconds}`, "-H", auth, `http://127.0.0.1:${API_PORT}/v1/clusters/bench/mappings/m1`]);
    options.log(`  API reads: ${Math.round(reads)} req/s`);
    figures.push({ id: "cp-api-reads", section: "control plane", title: "API reads (GET one mapping), wrk -t2 -c32", value: round(reads, 0), unit: "req/s", target: "≥ 10,000 req/s", met: reads >= 10_000 });
    const script = join(daemon.dir, "write.lua");
    // Every request changes the description, so every one is a real, durable write with its own revision.
    writeFileSync(script, `counter = 0
request = function()
  counter = counter + 1
  local body = '{"description":"bench ' .. counter .. '"}'
  return wrk.format("PATCH", "/v1/egress-ips/${BENCH_ADDR.egress[3]}", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer ${daemon.adminToken}" }, body)
end
`);
    const writesPerSecond = await wrk(["-t2", "-c32", `-d${seconds}`, "-s", script, `http://127.0.0.1:${API_PORT}`]);
    options.log(`  API writes: ${Math.round(writesPerSecond)} req/s`);
    figures.push({ id: "cp-api-writes", section: "control plane", title: "API writes (PATCH, each durable, applies coalesced), wrk -t2 -c32", value: round(writesPerSecond, 0), unit: "req/s", target: "≥ 1,000 req/s", met: writesPerSecond >= 1_000 });

    const memorySize = options.quick ? 10_000 : 100_000;
    await seed(daemon, memorySize, false);
    const pid = daemon.pid();
    const rss = pid ? rssMiB(pid) : Number.NaN;
    options.log(`  daemon RSS with ${memorySize.toLocaleString("en")} mappings: ${rss.toFixed(0)} MiB`);
    figures.push({ id: "cp-memory", section: "control plane", title: `daemon memory with ${memorySize.toLocaleString("en")} mappings (RSS)`, value: round(rss, 0), unit: "MiB", target: "≤ 150 MB", met: memorySize === 100_000 ? rss <= 150 : null });
  } finally {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo.destroy();
  }

  const applies = await benchFullApply(options);
  figures.push(...applies);
  return figures;
}

/** What the reconciler does for a full pass: nft -c, nft -j -f (one transaction), read back and compare. */
async function benchFullApply(options: ControlplaneOptions): Promise<Figure[]> {
  const topo = await buildGatewayTopology();
  const figures: Figure[] = [];
  try {
    const nft = new NftClient(new NetnsRunner(topo.gateway.name));
    for (const size of options.quick ? [10_000] : [10_000, 100_000]) {
      const samples: number[] = [];
      for (let r = 0; r < (options.quick ? 1 : 3); r++) {
        const state = desiredNftState(RULESET, syntheticMappings(size), [...BENCH_ADDR.egress], benchGuards("02:00:00:00:00:01"));
        const started = performance.now();
        const commands = renderFull(RULESET, state);
        await nft.check(commands);
        await nft.apply(commands);
        await nft.readTable(RULESET.table);
        samples.push(performance.now() - started);
      }
      const value = median(samples);
      options.log(`  full apply of ${size.toLocaleString("en")} mappings: ${(value / 1000).toFixed(2)} s`);
      figures.push({
        id: `cp-full-apply-${size}`, section: "control plane", title: `full atomic apply of ${size.toLocaleString("en")} mappings (render, check, apply, read back)`,
        value: round(value / 1000, 2), unit: "s", target: "≤ 2 s (at 100k)", met: size === 100_000 ? value <= 2_000 : null, samples: samples.map((s) => round(s / 1000, 2)),
      });
    }
  } finally {
    await topo.destroy();
  }
  return figures;
}
