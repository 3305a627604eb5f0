import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { leftovers } from "../../lab/leftovers.js";
import type { Netns } from "../../lab/netns.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;

/** Destinations on the server's network besides the server's own address: each a second address of the server. */
const DEST = { allowed: "203.0.113.200", carved: "203.0.113.201", other: "203.0.113.202", named: "203.0.113.203", renamed: "203.0.113.204", dns: "203.0.113.53" } as const;
const DEST6 = { allowed: "2001:db8::200", other: "2001:db8::202" } as const;
const DNS_TTL_SECONDS = 12;
const NAME = "svc.policy.test";

type Overview = {
  mappings: { mapping: string; rules: { connections: number | null }[]; unmatched: number | null }[];
  floors: { global: { connections: number | null }[] };
  names: { name: string; state: string; addresses: { address: string }[]; lastError: string | null }[];
};

/**
 * Egress policy end to end: the real daemon, nft, ulogd (the policy log) and dnsmasq (the lab's DNS) in namespaces,
 * every verdict judged by a real connection from a pod: allowed connections reach the server, refused ones get a TCP
 * reset at once (not a timeout).
 */
describe("egress policy end to end", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: GatewayTopology;
  let daemon: DaemonHandle | undefined;
  let dns: ReturnType<Netns["spawn"]> | undefined;
  let clusterToken = "";
  let hostsFile = "";

  const connect = async (pod: "a" | "b", host: string, port = 8080) => {
    const result = await whoami(topo.pods[pod], host, port, 2_000);
    return result.ok ? `ok:${result.seenAs}` : `failed:${result.error}`;
  };
  const refused = (result: string) => /^failed:.*ECONNREFUSED/.test(result);
  const eventually = async (check: () => Promise<boolean>, what: string, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}\n--- daemon log ---\n${daemon?.log().slice(-6000)}`);
      await sleep(200);
    }
  };
  const api = (method: string, path: string, body?: unknown, token?: string) => (daemon as DaemonHandle).api(method, path, body, token);
  const putPolicy = async (mapping: string, policy: unknown) => {
    const response = await api("PUT", `/v1/clusters/prod/mappings/${mapping}/policy?wait=true`, policy, clusterToken);
    assert.equal(response.status, 200, JSON.stringify(response.body));
  };
  const overview = async () => (await api("GET", "/v1/clusters/prod/policies", undefined, clusterToken)).body as Overview;
  const startDns = async (address: string) => {
    writeFileSync(hostsFile, `${address} ${NAME}\n`);
    dns = topo.server.spawn("dnsmasq", ["--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
      `--listen-address=${DEST.dns}`, "--port=53", "--local=/policy.test/", `--addn-hosts=${hostsFile}`, `--local-ttl=${DNS_TTL_SECONDS}`, "--user=root"], { reject: false });
    await eventually(async () => (await topo.server.exec("ss", ["-lun"], { reject: false })).stdout.includes(`${DEST.dns}:53`), "dnsmasq to listen");
  };

  /** IP protocol 253 (experimentation, RFC 3692) with `length` bytes of payload: no transport header nft knows. */
  const rawSend = async (pod: "a" | "b", host: string, length: number) => {
    await topo.pods[pod].exec("python3", ["-c",
      "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_RAW, 253); s.sendto(b'x'*int(sys.argv[2]), (sys.argv[1], 0))", host, String(length)]);
  };
  /** Prints "DESTINATION:LENGTH" for every protocol-253 packet the server receives. */
  const rawReceiver = async () => {
    const lines: string[] = [];
    const child = topo.server.spawn("python3", ["-u", "-c",
      "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_RAW, 253); print('ready', flush=True)\n"
      + "while True:\n d=s.recv(65535); h=(d[0]&15)*4; print('%d.%d.%d.%d:%d' % (d[16],d[17],d[18],d[19],len(d)-h), flush=True)"], { reject: false });
    child.stdout?.on("data", (chunk: Buffer) => lines.push(...chunk.toString("utf8").split("\n").filter(Boolean)));
    await eventually(async () => lines.includes("ready"), "the raw receiver to listen");
    return {
      seen: () => lines.filter((l) => l !== "ready"),
      stop: async () => {
        child.kill("SIGKILL");
        await child.catch(() => undefined);
      },
    };
  };

  before(async () => {
    topo = await buildGatewayTopology();
    for (const address of [DEST.carved, DEST.other, DEST.named, DEST.renamed, DEST.dns]) await topo.server.ip(["addr", "add", `${address}/32`, "dev", "eth0"]);
    await topo.server.ip(["-6", "addr", "add", `${DEST6.other}/128`, "dev", "eth0", "nodad"]);
    await startWhoamiServer(topo.server);
    await startWhoamiServer(topo.server, { port: 8090, tuplePort: 8093 });
    daemon = await startDaemon(topo.gateway, {
      policy: { dns: { servers: [DEST.dns], minTtlSeconds: 1, maxTtlSeconds: 60, timeoutMs: 500 }, log: { ratePerSecond: 100, burst: 100 } },
    });
    hostsFile = join(daemon.dir, "dns-hosts");
    for (const address of ["203.0.113.10", "203.0.113.11", "2001:db8::10"]) assert.equal((await api("POST", "/v1/egress-ips", { address })).status, 201);
    assert.equal((await api("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"] })).status, 201);
    clusterToken = ((await api("POST", "/v1/clusters/prod/tokens", { description: "policy test" })).body as { token: string }).token;
    const mappings = await api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [
      { name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" },
      { name: "app-b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11" },
      { name: "app-a-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" },
    ] }, clusterToken);
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    const routes = await api("PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.0.0/16", via: "172.31.0.11" }, { prefix: "fd00:10:244::/48", via: "fd00:172:31::11" }] }, clusterToken);
    assert.equal(routes.status, 200, JSON.stringify(routes.body));
  });

  after(async () => {
    dns?.kill("SIGKILL");
    await dns?.catch(() => undefined);
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
    assert.deepEqual(leftovers(topo?.namespaces ?? [], daemon ? [daemon.dir] : []), [], "the test leaves nothing behind");
  });

  it("without a policy every destination is reached", async () => {
    for (const host of [DEST.allowed, DEST.carved, DEST.other]) assert.equal(await connect("a", host), "ok:203.0.113.10");
  });

  it("enforces a prefix with a carve-out and a port, over IPv4 and IPv6; other mappings are untouched; refusals are counted", async () => {
    await putPolicy("app-a", { rules: [
      { description: "web", destinations: [{ cidr: "203.0.113.200/30", except: [`${DEST.carved}/32`] }], protocol: "tcp", ports: [{ port: 8080 }] },
      { destinations: [{ cidr: "203.0.113.200/32" }], protocol: "tcp", ports: [{ port: 8085, endPort: 8095 }] },
    ] });
    await putPolicy("app-a-v6", { rules: [{ destinations: [{ cidr: "2001:db8::200/127" }], protocol: "tcp", ports: [{ port: 8080 }] }] });
    assert.equal(await connect("a", DEST.allowed), "ok:203.0.113.10");
    assert.equal(await connect("a", DEST.allowed, 8090), "ok:203.0.113.10", "the port range allows 8090");
    assert.ok(refused(await connect("a", DEST.carved)), "the carve-out is refused with a reset");
    assert.ok(refused(await connect("a", DEST.other, 8090)), "another destination and port is refused");
    assert.ok(refused(await connect("a", `${DEST.allowed}`, 8081)), "a port outside every rule is refused");
    assert.equal(await connect("a", DEST6.allowed), "ok:2001:db8::10");
    assert.ok(refused(await connect("a", DEST6.other)), "IPv6: another destination is refused");
    assert.equal(await connect("b", DEST.carved), "ok:203.0.113.11", "a mapping without a policy is not restricted");
    const counts = (await overview()).mappings.find((m) => m.mapping === "app-a");
    assert.ok(counts, "app-a is governed");
    assert.ok((counts.rules[0]?.connections ?? 0) >= 1 && (counts.rules[1]?.connections ?? 0) >= 1, JSON.stringify(counts));
    assert.ok((counts.unmatched ?? 0) >= 3, `refusals counted: ${JSON.stringify(counts)}`);
  });

  it("logs each refusal with its cluster and mapping, visible to the cluster only", async () => {
    await eventually(async () => {
      const { events } = (await api("GET", "/v1/clusters/prod/policy-events", undefined, clusterToken)).body as { events: { verdict: string; mapping: string; destination: string; destinationPort: number }[] };
      return events.some((e) => e.verdict === "denied" && e.mapping === "app-a" && e.destination === DEST.carved && e.destinationPort === 8080);
    }, "the refusal of 203.0.113.201:8080 in the policy log");
    assert.equal((await api("POST", "/v1/clusters", { name: "other", sourceRanges: ["10.250.0.0/16"] })).status, 201);
    const otherToken = ((await api("POST", "/v1/clusters/other/tokens", { description: "another tenant" })).body as { token: string }).token;
    assert.equal((await api("GET", "/v1/clusters/prod/policy-events", undefined, otherToken)).status, 403, "another cluster cannot read prod's refusals");
    assert.equal((await api("GET", "/v1/clusters/prod/policies", undefined, otherToken)).status, 403);
    assert.deepEqual((await api("GET", "/v1/clusters/other/policy-events", undefined, otherToken)).body, { events: [], next: null }, "its own list holds none of prod's");
  });

  it("audit mode lets everything pass and counts what it would refuse", async () => {
    const before = (await overview()).mappings.find((m) => m.mapping === "app-a")?.unmatched ?? 0;
    await putPolicy("app-a", { mode: "audit", rules: [{ destinations: [{ cidr: "203.0.113.200/32" }], protocol: "tcp", ports: [{ port: 8080 }] }] });
    assert.equal(await connect("a", DEST.carved), "ok:203.0.113.10");
    assert.equal(await connect("a", DEST.other, 8090), "ok:203.0.113.10");
    const after = (await overview()).mappings.find((m) => m.mapping === "app-a")?.unmatched ?? 0;
    assert.ok(after >= before + 2, `would-be refusals counted: ${before} → ${after}`);
    await eventually(async () => {
      const { events } = (await api("GET", "/v1/clusters/prod/policy-events", undefined, clusterToken)).body as { events: { verdict: string; destination: string }[] };
      return events.some((e) => e.verdict === "audited" && e.destination === DEST.other);
    }, "an audited event");
  });

  it("a floor refuses for every mapping, policy or not, and a cluster cannot widen it", async () => {
    assert.equal((await api("PUT", "/v1/policy-floor?wait=true", { rules: [{ description: "no 202", destinations: [{ cidr: "203.0.113.202/32" }] }] })).status, 200);
    const widen = await api("PUT", "/v1/clusters/prod/mappings/app-b/policy", { rules: [{ destinations: [{ cidr: "203.0.113.0/24" }] }] }, clusterToken);
    assert.equal(widen.status, 403, JSON.stringify(widen.body));
    assert.equal((widen.body as { code: string }).code, "floor-conflict");
    assert.ok(refused(await connect("b", DEST.other)), "the floor refuses a mapping without a policy");
    assert.ok(refused(await connect("a", DEST.other)), "…and one in audit mode");
    assert.equal(await connect("b", DEST.carved), "ok:203.0.113.11", "what the floor does not name still passes");
    assert.ok(((await overview()).floors.global[0]?.connections ?? 0) >= 2);
    // A packet too short to carry a port would make every lookup fail, the floor's included: it is refused instead.
    const received = await rawReceiver();
    try {
      await rawSend("b", DEST.other, 0);
      await rawSend("b", DEST.other, 4);
      await rawSend("b", DEST.carved, 8);
      await eventually(async () => received.seen().includes(`${DEST.carved}:8`), "the long packet to a destination no floor names to arrive");
      assert.deepEqual(received.seen().filter((s) => s.startsWith(DEST.other)), [], "neither the empty nor the 4-byte packet reached the floor's address");
      const short = (await topo.gateway.exec("nft", ["list", "chain", "inet", "egress_gateway", "egress_policy"])).stdout;
      assert.match(short, /counter packets [1-9]\d* bytes \d+ jump floor_deny comment "egw:transport-short"/, short);
    } finally {
      await received.stop();
    }
    assert.equal((await api("DELETE", "/v1/policy-floor?wait=true")).status, 204);
    assert.equal(await connect("b", DEST.other), "ok:203.0.113.11");
  });

  it("a DNS name: its address passes; a changed record moves the allowance after refresh and TTL; a dead DNS keeps the last good addresses until they expire", async () => {
    await startDns(DEST.named);
    await putPolicy("app-a", { rules: [{ destinations: [{ name: NAME }], protocol: "tcp", ports: [{ port: 8080 }] }] });
    const addressesOf = async () => (await overview()).names.find((n) => n.name === NAME);
    await eventually(async () => (await addressesOf())?.addresses.some((a) => a.address === DEST.named) ?? false, "the name to resolve");
    await eventually(async () => (await connect("a", DEST.named)).startsWith("ok:"), "the named address to pass");
    assert.ok(refused(await connect("a", DEST.renamed)), "an address the name does not have is refused");

    writeFileSync(hostsFile, `${DEST.renamed} ${NAME}\n`);
    dns?.kill("SIGHUP");
    await eventually(async () => (await connect("a", DEST.renamed)) === "ok:203.0.113.10", "the new address to pass after the refresh");
    await eventually(async () => refused(await connect("a", DEST.named)), "the old address to be refused once its TTL ran out", (DNS_TTL_SECONDS + 10) * 1000);

    dns?.kill("SIGKILL");
    await dns?.catch(() => undefined);
    dns = undefined;
    const stoppedAt = Date.now();
    assert.equal(await connect("a", DEST.renamed), "ok:203.0.113.10", "the last good address still passes");
    // …also across a restart of the daemon (an upgrade, a crash), which rebuilds the table from what it knows.
    await (daemon as DaemonHandle).stop();
    await (daemon as DaemonHandle).start();
    assert.equal(await connect("a", DEST.renamed), "ok:203.0.113.10", "the restarted daemon kept the last good address");
    await eventually(async () => (await addressesOf())?.state === "failing", "the failure to show in the overview");
    const { warnings } = (await api("GET", "/v1/status")).body as { warnings: string[] };
    assert.ok(warnings.some((w) => w.startsWith(`policy DNS name ${NAME}:`)), `the status warns: ${JSON.stringify(warnings)}`);
    const metrics = (await api("GET", "/metrics")).body;
    assert.match(String(metrics), /egw_policy_dns_names\{state="failing"\} 1/);
    const stillThere = await addressesOf();
    if (stillThere?.addresses.some((a) => a.address === DEST.renamed)) assert.equal(await connect("a", DEST.renamed), "ok:203.0.113.10", "…until it expires");
    await eventually(async () => refused(await connect("a", DEST.renamed)), "the last good address to be refused once expired", (DNS_TTL_SECONDS + 10) * 1000);
    assert.ok(Date.now() - stoppedAt >= 1_000, "it was not cleared at the first failure");
  });

  it("a policy that changes while connections open never refuses an allowed one", async () => {
    await putPolicy("app-a", { rules: [{ destinations: [{ cidr: "203.0.113.200/32" }], protocol: "tcp", ports: [{ port: 8080 }] }] });
    let changing = true;
    const results: string[] = [];
    const prober = (async () => {
      while (changing) results.push(await connect("a", DEST.allowed));
    })();
    for (let i = 0; i < 12; i++) {
      const extra = Array.from({ length: (i % 4) * 25 }, (_, j) => ({ destinations: [{ cidr: `198.51.${j}.0/24` }], protocol: "udp", ports: [{ port: 1000 + i }] }));
      // The allowing rule moves between first and last: its counter, and so its elements' values, change every time.
      const rules = i % 2 === 0
        ? [{ destinations: [{ cidr: "203.0.113.200/32" }], protocol: "tcp", ports: [{ port: 8080 }] }, ...extra]
        : [...extra, { destinations: [{ cidr: "203.0.113.192/28" }], protocol: "tcp", ports: [{ port: 8000, endPort: 8100 }] }];
      await putPolicy("app-a", { rules });
    }
    changing = false;
    await prober;
    assert.ok(results.length >= 3, `the prober ran during the changes (${results.length} connections)`);
    assert.deepEqual(results.filter((r) => r !== "ok:203.0.113.10"), [], "no allowed connection was refused");
  });
});
