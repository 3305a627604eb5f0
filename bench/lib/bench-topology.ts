import { execa } from "execa";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Netns, uniqueSuffix, veth } from "../../lab/netns.js";

/**
 * client ── inside [gateway] outside ── server, for data-plane benchmarks. The client holds one address
 * inside the mapped ranges; the server counts (and drops) every UDP packet at ingress, before any stack
 * work, so the count measures what crossed the gateway.
 */
export const BENCH_ADDR = {
  client: "10.128.0.5",
  clientPrefix: "10.128.0.4/30",
  gatewayInside: "10.255.255.254",
  gatewayOutside: "203.0.113.1",
  egress: ["203.0.113.10", "203.0.113.11", "203.0.113.12", "203.0.113.13"],
  server: "203.0.113.200",
} as const;

export interface BenchTopology {
  client: Netns;
  gateway: Netns;
  server: Netns;
  gatewayInsideMac: string;
  clientMac: string;
  workDir: string;
  /** Loads an nft JSON batch (or its JSON text, which a caller may keep to load it again) into the gateway namespace. */
  nft(batch: unknown): Promise<void>;
  /** UDP packets counted at the server so far. */
  serverCount(): Promise<number>;
  destroy(): Promise<void>;
}

export async function buildBenchTopology(): Promise<BenchTopology> {
  const prefix = `egwb-${uniqueSuffix()}`;
  const created: Netns[] = [];
  const workDir = mkdtempSync(join(tmpdir(), "egw-bench-"));
  const destroy = async () => {
    await Promise.all(created.map((ns) => ns.destroy()));
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    for (const role of ["client", "gw", "server"]) {
      const ns = await Netns.create(`${prefix}-${role}`);
      created.push(ns);
    }
    const [client, gateway, server] = created as [Netns, Netns, Netns];
    await veth({ ns: client, name: "eth0", addresses: [`${BENCH_ADDR.client}/8`] }, { ns: gateway, name: "inside", addresses: [`${BENCH_ADDR.gatewayInside}/8`] });
    await veth(
      { ns: gateway, name: "outside", addresses: [`${BENCH_ADDR.gatewayOutside}/24`, ...BENCH_ADDR.egress.map((a) => `${a}/32`)] },
      { ns: server, name: "eth0", addresses: [`${BENCH_ADDR.server}/24`] },
    );
    await client.ip(["route", "add", "default", "via", BENCH_ADDR.gatewayInside]);
    // Only the no-NAT throughput baseline needs the server to reach the client's own address.
    await server.ip(["route", "add", "10.0.0.0/8", "via", BENCH_ADDR.gatewayOutside]);
    // One-second UDP timeouts keep the conntrack table from filling during a flood of one-packet flows.
    await gateway.sysctl({
      "net.ipv4.ip_forward": 1,
      "net.netfilter.nf_conntrack_udp_timeout": 1,
      "net.netfilter.nf_conntrack_udp_timeout_stream": 1,
    });
    const counterTable = "table netdev bench {\n chain ingress {\n  type filter hook ingress device eth0 priority 0;\n  meta l4proto udp counter drop\n }\n}\n";
    writeFileSync(join(workDir, "server.nft"), counterTable);
    await server.exec("nft", ["-f", join(workDir, "server.nft")]);
    const mac = async (ns: Netns, dev: string) =>
      (JSON.parse((await ns.exec("ip", ["-j", "link", "show", "dev", dev])).stdout) as { address: string }[])[0]?.address ?? "";
    let batches = 0;
    return {
      client, gateway, server, workDir,
      gatewayInsideMac: await mac(gateway, "inside"),
      clientMac: await mac(client, "eth0"),
      nft: async (batch) => {
        const file = join(workDir, `batch-${batches++}.json`);
        writeFileSync(file, typeof batch === "string" ? batch : JSON.stringify(batch));
        await gateway.exec("nft", ["-j", "-f", file]);
        rmSync(file);
      },
      serverCount: async () => {
        const listing = JSON.parse((await server.exec("nft", ["-j", "list", "table", "netdev", "bench"])).stdout) as { nftables: Record<string, unknown>[] };
        for (const item of listing.nftables) {
          const rule = item["rule"] as { expr: Record<string, unknown>[] } | undefined;
          const counter = rule?.expr.find((e) => e["counter"])?.["counter"] as { packets: number } | undefined;
          if (counter) return counter.packets;
        }
        return 0;
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** perf, when installed: its task-clock is the CPU time trafgen used, to the microsecond (see flood). */
const PERF = "/usr/bin/perf";

/**
 * Runs trafgen in the client namespace for `seconds`: every packet a new UDP flow (random ports). `cpuSeconds` is the
 * CPU time trafgen was given (perf stat's task-clock; absent without perf). Sending on a veth runs the whole
 * forwarding path — the gateway's hooks, NAT, the server's counter — in the sender's own system call, so packets per
 * CPU-second price the per-packet work even on a machine so busy that trafgen gets a fraction of a core.
 */
export async function flood(topo: BenchTopology, seconds: number, options: { sources?: string[]; destinationPort?: number; gapMicros?: number; ratePps?: number } = {}): Promise<{ sent: number; received: number; seconds: number; cpuSeconds?: number }> {
  const sources = options.sources ?? [BENCH_ADDR.client];
  const packets = sources.map((source) => `{
  eth(da=${topo.gatewayInsideMac}, sa=${topo.clientMac}),
  ipv4(saddr=${source}, daddr=${BENCH_ADDR.server}, ttl=64),
  udp(sp=drnd(), dp=${options.destinationPort ?? "drnd()"}),
  fill(0x41, 18)
}`).join("\n");
  const config = join(topo.workDir, "flood.cfg");
  writeFileSync(config, packets);
  const before = await topo.serverCount();
  const started = performance.now();
  const args = ["netns", "exec", topo.client.name, "timeout", "-s", "INT", String(seconds), "trafgen", "--dev", "eth0", "--conf", config, "--cpus", "1", "-q"];
  if (options.gapMicros) args.push("-t", `${options.gapMicros}us`);
  // trafgen's own rate limit keeps its pace (it spins on its CPU); a gap sleeps per packet and tops out near 15k/s.
  if (options.ratePps) args.push("-b", `${options.ratePps}pps`);
  const result = existsSync(PERF)
    ? await execa(PERF, ["stat", "-x", ",", "-e", "task-clock", "--", "ip", ...args], { reject: false, all: true })
    : await execa("ip", args, { reject: false, all: true });
  const elapsed = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const received = (await topo.serverCount()) - before;
  const sent = Number(/(\d+) packets outgoing/.exec(String(result.all))?.[1] ?? 0);
  const cpuMs = /^([\d.]+),msec,task-clock/m.exec(String(result.all));
  return { sent, received, seconds: elapsed, ...(cpuMs ? { cpuSeconds: Number(cpuMs[1]) / 1000 } : {}) };
}
