import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { buildLanTopology, LAN_ADDR, type LanTopology } from "../../lab/lan-topology.js";
import { startUdpSender, startUdpSink, type UdpSink } from "../../lab/udp-probe.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;
const SINK_PORT = 9999;
const SPOOFED = { v4: "10.244.1.77", v6: "fd00:10:244:1::77" };

/**
 * Source binding with the real daemon on a shared inside LAN: a rogue host sending from prod's pod range must not
 * leave as prod (nor at all), while prod's real pods and the rogue's own cluster keep working; and a node replaced
 * with a new MAC is re-bound without a restart.
 */
describe("source binding by next hop", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: LanTopology;
  let daemon: DaemonHandle | undefined;
  let sink: UdpSink;

  const eventually = async (check: () => Promise<boolean>, what: string, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) {
        const neighbours = async (ns: typeof topo.node, dev: string) => String((await ns.exec("ip", ["neigh", "show", "dev", dev])).stdout);
        assert.fail(`timed out waiting for: ${what}\n--- gateway neighbours ---\n${await neighbours(topo.gateway, "inside")}\n--- node neighbours ---\n` +
          `${await neighbours(topo.node, "eth0")}\n--- daemon log ---\n${daemon?.log().slice(-6000)}`);
      }
      await sleep(100);
    }
  };
  const nftJson = async (args: string[]) =>
    (JSON.parse(String((await topo.gateway.exec("nft", ["-j", ...args])).stdout)) as { nftables: Record<string, Record<string, unknown>>[] }).nftables;
  const guardCounter = async () => Number((await nftJson(["list", "counter", "inet", "egress_gateway", "guard_spoofed"]))
    .find((i) => i["counter"])?.["counter"]?.["packets"] ?? 0);
  /** Elements of a set as "mac . address" text. */
  const elements = async (set: string) => ((await nftJson(["list", "set", "inet", "egress_gateway", set])).find((i) => i["set"])?.["set"]?.["elem"] as unknown[] | undefined ?? [])
    .map((e) => {
      const value = (e as { elem?: { val: unknown } }).elem?.val ?? e;
      return ((value as { concat: unknown[] }).concat).map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" . ");
    });
  const seenAs = async (pod: "a" | "b", family: 4 | 6 = 4) => {
    const result = await whoami(topo.pods[pod], family === 4 ? LAN_ADDR.server.v4 : LAN_ADDR.server.v6, 8080, 1_500);
    return result.ok ? result.seenAs : `failed:${result.error}`;
  };

  before(async () => {
    topo = await buildLanTopology();
    await startWhoamiServer(topo.server);
    sink = await startUdpSink(topo.server, SINK_PORT);
    daemon = await startDaemon(topo.gateway);
    const d = daemon;
    for (const address of ["203.0.113.10", "203.0.113.20", "2001:db8::10", "2001:db8::20"]) {
      assert.equal((await d.api("POST", "/v1/egress-ips", { address })).status, 201);
    }
    const clusters = [
      { name: "prod", sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "2001:db8::10"] },
      { name: "dev", sourceRanges: ["10.245.0.0/16", "fd00:10:245::/48"], egressIps: ["203.0.113.20", "2001:db8::20"] },
    ];
    for (const cluster of clusters) assert.equal((await d.api("POST", "/v1/clusters", cluster)).status, 201);
    const put = async (path: string, body: unknown) => {
      const response = await d.api("PUT", `${path}?wait=true`, body);
      assert.equal(response.status, 200, JSON.stringify(response.body));
    };
    await put("/v1/clusters/prod/mappings", { mappings: [
      { name: "a", sourceCidr: "10.244.0.0/16", egressIp: "203.0.113.10" },
      { name: "a6", sourceCidr: "fd00:10:244::/48", egressIp: "2001:db8::10" },
    ] });
    await put("/v1/clusters/prod/routes", { routes: [{ prefix: "10.244.0.0/16", via: LAN_ADDR.node.v4 }, { prefix: "fd00:10:244::/48", via: LAN_ADDR.node.v6 }] });
    // The rogue is a legitimate node of cluster dev: its own pods (here: an address of its own) are mapped and routed.
    await put("/v1/clusters/dev/mappings", { mappings: [
      { name: "d", sourceCidr: "10.245.0.0/16", egressIp: "203.0.113.20" },
      { name: "d6", sourceCidr: "fd00:10:245::/48", egressIp: "2001:db8::20" },
    ] });
    await put("/v1/clusters/dev/routes", { routes: [{ prefix: "10.245.0.0/16", via: LAN_ADDR.rogue.v4 }, { prefix: "fd00:10:245::/48", via: LAN_ADDR.rogue.v6 }] });
    await topo.rogue.ip(["addr", "add", `${SPOOFED.v4}/32`, "dev", "eth0"]);
    await topo.rogue.ip(["addr", "add", `${SPOOFED.v6}/128`, "dev", "eth0", "nodad"]);
    await topo.rogue.ip(["addr", "add", "10.245.1.5/32", "dev", "eth0"]);
    await topo.rogue.ip(["addr", "add", "fd00:10:245:1::5/128", "dev", "eth0", "nodad"]);
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
  });

  it("prod's real pods leave with prod's egress IP once the node's MAC is bound", async () => {
    await eventually(async () => (await seenAs("a")) === "203.0.113.10", "pod a seen as prod's egress IP");
    await eventually(async () => (await seenAs("a", 6)) === "2001:db8::10", "pod a seen as prod's IPv6 egress IP");
    const nodeMac = await topo.mac(topo.node, "eth0");
    assert.ok((await elements("bound_v4")).includes(`${nodeMac} . {"prefix":{"addr":"10.244.0.0","len":16}}`), "the route is bound to the node's MAC");
  });

  it("a rogue host sending from prod's pod range is dropped, counted and recorded; nothing of it reaches the server", async () => {
    const before = await guardCounter();
    const count = 50;
    for (const [family, bind] of [["v4", SPOOFED.v4], ["v6", SPOOFED.v6]] as const) {
      const sender = await startUdpSender(topo.rogue, {
        host: family === "v4" ? LAN_ADDR.server.v4 : LAN_ADDR.server.v6, port: SINK_PORT, tag: `rogue${family}`, intervalMs: 2, count, bind,
      });
      await sender.done;
    }
    // Every datagram is a new connection the guard refuses (a refused one is never confirmed): all are counted.
    await eventually(async () => (await guardCounter()) - before >= 2 * count, `${2 * count} drops counted (have ${(await guardCounter()) - before})`);
    assert.deepEqual(sink.datagrams.filter((d) => d.data.startsWith("rogue")), [], "no rogue datagram reached the server, from any address");
    assert.deepEqual(sink.datagrams.filter((d) => d.from === "203.0.113.10" || d.from === "2001:db8::10"), [], "none as prod's egress IP");
    assert.deepEqual(sink.datagrams.filter((d) => d.from === SPOOFED.v4 || d.from === SPOOFED.v6), [], "none with the spoofed pod address");
    const rogueMac = await topo.mac(topo.rogue, "eth0");
    assert.ok((await elements("spoofed_v4")).includes(`${rogueMac} . ${SPOOFED.v4}`), `spoofed_v4 names the rogue's MAC: ${(await elements("spoofed_v4")).join(", ")}`);
    assert.ok((await elements("spoofed_v6")).includes(`${rogueMac} . ${SPOOFED.v6}`), `spoofed_v6 names the rogue's MAC: ${(await elements("spoofed_v6")).join(", ")}`);
    const metrics = (await (daemon as DaemonHandle).api("GET", "/metrics")).body as string;
    assert.match(metrics, /^egw_guard_drops_total\{guard="spoofed"\} [1-9]\d*$/m, "exported as a metric");
  });

  it("the rogue's own cluster still works from its own addresses, and prod's pods are unaffected", async () => {
    const sender = await startUdpSender(topo.rogue, { host: LAN_ADDR.server.v4, port: SINK_PORT, tag: "devown", intervalMs: 2, count: 5, bind: "10.245.1.5" });
    await sender.done;
    await eventually(async () => sink.datagrams.some((d) => d.data.startsWith("devown") && d.from === "203.0.113.20"), "dev's own traffic leaves as dev");
    await eventually(async () => (await seenAs("b")) === "203.0.113.10", "prod's pod b still leaves as prod");
  });

  it("a node replaced with a new MAC is re-bound without a daemon restart", async () => {
    const oldMac = await topo.mac(topo.node, "eth0");
    const newMac = "02:00:00:0a:0b:0c";
    await topo.node.ip(["link", "set", "dev", "eth0", "address", newMac]);
    // A replaced node starts with an empty neighbour cache: its first packets resolve the gateway, which then learns the new MAC.
    await topo.node.ip(["neigh", "flush", "dev", "eth0"]);
    await eventually(async () => (await seenAs("a")) === "203.0.113.10", "pod a leaves as prod again, from the new MAC");
    await eventually(async () => (await seenAs("a", 6)) === "2001:db8::10", "and over IPv6");
    const bound = await elements("bound_v4");
    assert.ok(bound.includes(`${newMac} . {"prefix":{"addr":"10.244.0.0","len":16}}`), `bound to the new MAC: ${bound.join(", ")}`);
    assert.ok(!bound.some((e) => e.startsWith(oldMac)), "the old MAC is no longer bound");
    assert.match(daemon?.log() ?? "", /next hop changed its MAC/);
  });
});
