import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { PACKAGE_ROOT } from "../../appliance/paths.js";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { leftovers } from "../../lab/leftovers.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { seenTuple, type SeenTuple } from "../../lab/tuple-client.js";
import { startWhoamiServer } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;
const run = promisify(execFile);

interface Translation {
  gateway: string; cluster: string; mapping: string; protocol: string;
  pod: { address: string; port: number }; destination: { address: string; port: number }; egress: { address: string; port: number };
  start: string; end: string | null; endReason: string | null;
  counters: { originalPackets: number; replyPackets: number; originalBytes: number; replyBytes: number } | null;
}
interface Answer { translations: Translation[]; gaps: unknown[]; unanswered: unknown[] }

/**
 * The translation log end to end, on one gateway: the real daemon running the real ulogd (NFCT, reliable delivery)
 * in a namespace, real TCP and UDP connections from pods; each connection is looked up from the server's side of
 * it, (egress IP, port, time), exactly as a firewall's log line would be.
 */
describe("translation log: every translation answerable from the server's view", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: GatewayTopology;
  let daemon: DaemonHandle | undefined;
  const tokens: Record<string, string> = {};

  const lookup = async (query: string, token?: string) => {
    const response = await (daemon as DaemonHandle).api("GET", `/v1/translations?${query}`, undefined, token);
    return response;
  };
  /** Waits until the log holds the translation the server saw (the pipeline polls its spool). */
  const recordOf = async (seen: SeenTuple, protocol: string): Promise<Translation> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const at = new Date().toISOString();
      const response = await lookup(`egressIp=${encodeURIComponent(seen.seenAddress)}&egressPort=${seen.seenPort}&at=${at}&protocol=${protocol}`);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const found = (response.body as Answer).translations;
      if (found.length > 0) return found[0] as Translation;
      if (Date.now() > deadline) assert.fail(`no record of ${protocol} ${seen.seenAddress}:${seen.seenPort}\n--- daemon log ---\n${daemon?.log().slice(-6000)}`);
      await sleep(100);
    }
  };

  before(async () => {
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
    daemon = await startDaemon(topo.gateway, { translationLog: { enabled: true } });
    const d = daemon;
    for (const address of ["203.0.113.10", "203.0.113.11", "2001:db8::10"]) assert.equal((await d.api("POST", "/v1/egress-ips", { address })).status, 201);
    const clusters = [
      { name: "prod", sourceRanges: ["10.244.1.0/26", "fd00:10:244:1::/64"], egressIps: ["203.0.113.10", "2001:db8::10"] },
      { name: "dev", sourceRanges: ["10.244.1.64/26"], egressIps: ["203.0.113.11"] },
    ];
    for (const cluster of clusters) {
      assert.equal((await d.api("POST", "/v1/clusters", cluster)).status, 201);
      tokens[cluster.name] = ((await d.api("POST", `/v1/clusters/${cluster.name}/tokens`, { description: "test" })).body as { token: string }).token;
    }
    const put = async (cluster: string, path: string, body: unknown) => {
      const response = await d.api("PUT", `/v1/clusters/${cluster}/${path}?wait=true`, body, tokens[cluster]);
      assert.equal(response.status, 200, JSON.stringify(response.body));
    };
    await put("prod", "mappings", { mappings: [
      { name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" },
      { name: "app-a-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" },
    ] });
    await put("prod", "routes", { routes: [{ prefix: "10.244.1.0/26", via: "172.31.0.11" }, { prefix: "fd00:10:244:1::/64", via: "fd00:172:31::11" }] });
    await put("dev", "mappings", { mappings: [{ name: "app-b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11" }] });
    await put("dev", "routes", { routes: [{ prefix: "10.244.1.64/26", via: "172.31.0.11" }] });
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
    assert.deepEqual(leftovers(topo?.namespaces ?? [], daemon ? [daemon.dir] : []), [], "the test leaves nothing behind");
  });

  it("finds the pod, cluster and mapping of TCP and UDP connections, IPv4 and IPv6, from (egress IP, port, time)", async () => {
    const cases = [
      { pod: topo.pods.a, protocol: "tcp" as const, server: topo.addr.server.v4, cluster: "prod", mapping: "app-a", egress: "203.0.113.10" },
      { pod: topo.pods.a, protocol: "udp" as const, server: topo.addr.server.v4, cluster: "prod", mapping: "app-a", egress: "203.0.113.10" },
      { pod: topo.pods.b, protocol: "tcp" as const, server: topo.addr.server.v4, cluster: "dev", mapping: "app-b", egress: "203.0.113.11" },
      { pod: topo.pods.b, protocol: "udp" as const, server: topo.addr.server.v4, cluster: "dev", mapping: "app-b", egress: "203.0.113.11" },
      { pod: topo.pods.a, protocol: "tcp" as const, server: topo.addr.server.v6, cluster: "prod", mapping: "app-a-v6", egress: "2001:db8::10" },
    ];
    for (const c of cases) {
      const seen = await seenTuple(c.pod, c.protocol, c.server);
      assert.equal(seen.seenAddress, c.egress, `${c.cluster} ${c.protocol} left with its egress IP`);
      const record = await recordOf(seen, c.protocol);
      assert.deepEqual(
        { cluster: record.cluster, mapping: record.mapping, protocol: record.protocol, pod: record.pod, destination: record.destination, egress: record.egress },
        { cluster: c.cluster, mapping: c.mapping, protocol: c.protocol, pod: { address: seen.podAddress, port: seen.podPort }, destination: { address: c.server, port: 8083 }, egress: { address: seen.seenAddress, port: seen.seenPort } },
        `${c.protocol} from ${seen.podAddress}:${seen.podPort}`,
      );
      assert.equal(record.gateway, "gw-test");
    }
  });

  it("records the end and the traffic of a connection when the kernel removes it", async () => {
    const seen = await seenTuple(topo.pods.a, "udp", topo.addr.server.v4);
    await recordOf(seen, "udp");
    const started = Date.now();
    await topo.gateway.exec("conntrack", ["-D", "-p", "udp", "--reply-port-dst", String(seen.seenPort), "--reply-dst", seen.seenAddress]);
    const deadline = Date.now() + 10_000;
    let ended: Translation | undefined;
    while (!ended) {
      const response = await lookup(`egressIp=${seen.seenAddress}&egressPort=${seen.seenPort}&from=${new Date(started - 60_000).toISOString()}&to=${new Date().toISOString()}&protocol=udp`);
      ended = (response.body as Answer).translations.find((t) => t.end !== null);
      if (!ended && Date.now() > deadline) assert.fail(`the record never ended\n${daemon?.log().slice(-4000)}`);
      if (!ended) await sleep(100);
    }
    assert.equal(ended.endReason, "kernel");
    assert.ok(Date.parse(ended.end as string) >= Date.parse(ended.start));
    assert.ok(ended.counters && ended.counters.originalPackets >= 1 && ended.counters.replyPackets >= 1, `counters both ways: ${JSON.stringify(ended.counters)}`);
  });

  it("shows a cluster token its own translations only: another cluster's egress IP is 403, its pods are invisible", async () => {
    const seen = await seenTuple(topo.pods.a, "tcp", topo.addr.server.v4);
    await recordOf(seen, "tcp");
    const at = new Date().toISOString();
    const foreign = await lookup(`egressIp=${seen.seenAddress}&egressPort=${seen.seenPort}&at=${at}`, tokens.dev);
    assert.equal(foreign.status, 403, JSON.stringify(foreign.body));
    const byPod = await lookup(`podIp=${seen.podAddress}&at=${at}`, tokens.dev);
    assert.equal(byPod.status, 200);
    assert.deepEqual((byPod.body as Answer).translations, [], "prod's pod is not dev's to see");
    const own = await lookup(`egressIp=${seen.seenAddress}&egressPort=${seen.seenPort}&at=${at}`, tokens.prod);
    assert.equal(own.status, 200);
    assert.equal((own.body as Answer).translations[0]?.pod.port, seen.podPort);
  });

  it("egw trace prints the answer, and the port tally counts the open connections", async () => {
    const seen = await seenTuple(topo.pods.a, "tcp", topo.addr.server.v4);
    await recordOf(seen, "tcp");
    const d = daemon as DaemonHandle;
    const env = { ...process.env, EGW_TOKEN: d.adminToken };
    const { stdout } = await run(process.execPath, [join(PACKAGE_ROOT, "dist", "bin", "egw.js"), "trace", `${seen.seenAddress}:${seen.seenPort}`, "--socket", d.socket], { env });
    assert.match(stdout, new RegExp(`prod\\s+app-a\\s+tcp\\s+${seen.podAddress.replaceAll(".", "\\.")}:${seen.podPort}\\s+203\\.0\\.113\\.200:8083\\s+203\\.0\\.113\\.10:${seen.seenPort}`));
    const ports = await d.api("GET", "/v1/egress-ips/203.0.113.10/ports");
    assert.equal(ports.status, 200, JSON.stringify(ports.body));
    const busiest = (ports.body as { busiest: { destinationAddress: string; destinationPort: number; protocol: string; inUse: number }[] }).busiest;
    const toServer = busiest.find((b) => b.destinationAddress === "203.0.113.200" && b.destinationPort === 8083 && b.protocol === "tcp");
    assert.ok(toServer && toServer.inUse >= 1, `the tally counts the TCP connections still in conntrack: ${JSON.stringify(busiest)}`);
    const status = await d.api("GET", "/v1/status");
    const log = (status.body as { translationLog?: { state: string; eventsMalformed: number } }).translationLog;
    assert.equal(log?.state, "running");
    assert.equal(log?.eventsMalformed, 0);
    const metrics = await d.api("GET", "/metrics");
    assert.match(String(metrics.body), /^egw_translation_log_up 1$/m);
    assert.match(String(metrics.body), /^egw_translation_log_lost_events_total 0$/m);
  });
});
