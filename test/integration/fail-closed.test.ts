import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { startUdpSender, startUdpSink, type Datagram, type UdpSink } from "../../lab/udp-probe.js";

const isRoot = process.getuid?.() === 0;
const SINK_PORT = 9998;
const EGRESS = { v4: "203.0.113.10", v6: "2001:db8::10" };

/**
 * Fail closed with the real daemon: while our table is gone (a flush of the whole ruleset, or of our table), a
 * pod's stream must never reach the server with the pod's own address, and it must come back with the egress IP
 * once the daemon has noticed (nft monitor) and repaired the table.
 */
describe("fail closed when the table disappears", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: GatewayTopology;
  let daemon: DaemonHandle | undefined;
  let sink: UdpSink;
  let round = 0;

  const eventually = async (check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}\n--- daemon log ---\n${daemon?.log().slice(-6000)}`);
      await sleep(20);
    }
  };
  const tablePresent = async () => (await topo.gateway.exec("nft", ["list", "chain", "inet", "egress_gateway", "count_in"], { reject: false })).exitCode === 0;

  before(async () => {
    topo = await buildGatewayTopology();
    sink = await startUdpSink(topo.server, SINK_PORT);
    // The drift timer is far away: only the monitor can make the repair quick.
    daemon = await startDaemon(topo.gateway, { dataplane: { driftCheckIntervalMs: 600_000 } });
    const d = daemon;
    for (const address of [EGRESS.v4, EGRESS.v6]) assert.equal((await d.api("POST", "/v1/egress-ips", { address })).status, 201);
    assert.equal((await d.api("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: [EGRESS.v4, EGRESS.v6] })).status, 201);
    const mappings = await d.api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [
      { name: "all", sourceCidr: "10.244.0.0/16", egressIp: EGRESS.v4 }, { name: "all6", sourceCidr: "fd00:10:244::/48", egressIp: EGRESS.v6 },
    ] });
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    const routes = await d.api("PUT", "/v1/clusters/prod/routes?wait=true", { routes: [
      { prefix: "10.244.0.0/16", via: topo.addr.node.v4 }, { prefix: "fd00:10:244::/48", via: topo.addr.node.v6 },
    ] });
    assert.equal(routes.status, 200, JSON.stringify(routes.body));
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
  });

  it("installs the policy rules that black-hole unmarked traffic from the inside, for IPv4 and IPv6", async () => {
    for (const family of ["-4", "-6"]) {
      const rules = JSON.parse(String((await topo.gateway.exec("ip", ["-j", family, "rule", "show"])).stdout)) as Record<string, unknown>[];
      assert.ok(rules.some((r) => r["priority"] === 900 && r["iif"] === "inside" && r["fwmark"] === "0" && r["fwmask"] === "0x10000000" && r["action"] === "blackhole"),
        `${family}: ${JSON.stringify(rules)}`);
    }
  });

  /** Streams from pod a (IPv4 and IPv6, every 2 ms), breaks the table with `command`, and checks what the server saw. */
  const survive = async (t: TestContext, command: string[]) => {
    const tag = `r${round++}`;
    const senders = await Promise.all([topo.addr.server.v4, topo.addr.server.v6].map((host, i) =>
      startUdpSender(topo.pods.a, { host, port: SINK_PORT, tag: `${tag}${i === 0 ? "v4" : "v6"}`, intervalMs: 2 })));
    const ours = () => sink.datagrams.filter((d) => d.data.startsWith(tag));
    const fromEgress = (d: Datagram) => d.from === EGRESS.v4 || d.from === EGRESS.v6;
    try {
      await eventually(() => [EGRESS.v4, EGRESS.v6].every((e) => ours().some((d) => d.from === e)), "the stream flows, translated");
      await topo.gateway.exec("nft", command);
      const brokenAt = Date.now();
      await eventually(tablePresent, "the daemon repaired the table");
      const repairedAt = Date.now();
      await eventually(() => [EGRESS.v4, EGRESS.v6].every((e) => ours().some((d) => d.from === e && d.at > repairedAt)), "the stream is back with the egress IPs");
      const before = ours().filter((d) => d.at <= brokenAt && fromEgress(d)).at(-1);
      const resumed = ours().find((d) => d.at > brokenAt && fromEgress(d) && (!before || Number(d.data.split("-")[1]) > Number(before.data.split("-")[1]) + 1));
      t.diagnostic(`${command.join(" ")}: table repaired ${repairedAt - brokenAt} ms after the command returned; ` +
        `stream back ${resumed ? resumed.at - brokenAt : "?"} ms after it`);
    } finally {
      await Promise.all(senders.map((s) => s.stop()));
    }
    // A last datagram on the same path: once it is in, everything sent before it is in too.
    const last = await startUdpSender(topo.pods.a, { host: topo.addr.server.v4, port: SINK_PORT, tag: `${tag}end`, count: 1 });
    await last.done;
    await eventually(() => sink.datagrams.some((d) => d.data === `${tag}end-0`), "the end marker");
    const leaked = ours().filter((d) => !fromEgress(d));
    assert.deepEqual(leaked.slice(0, 5), [], `${leaked.length} datagram(s) reached the server untranslated`);
    assert.ok(ours().length > 0);
  };

  it("nft flush ruleset: not one datagram leaves with a pod address, and the stream comes back translated", async (t) => {
    await survive(t, ["flush", "ruleset"]);
  });

  it("nft delete table inet egress_gateway: the same", async (t) => {
    await survive(t, ["delete", "table", "inet", "egress_gateway"]);
  });
});
