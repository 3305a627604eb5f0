import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { DaemonHandle } from "../../lab/daemon.js";
import { startHaGroup, waitFor, type HaGroup } from "../../lab/ha-group.js";
import { buildHaTopology, HA_ADDR, type HaTopology } from "../../lab/ha-topology.js";
import { leftovers } from "../../lab/leftovers.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;

type Status = {
  role: string;
  version: string;
  replicationProtocol?: { oldest: number; newest: number };
  peers: { name: string; replication: string; replicationError: string | null; replicationProtocol: { oldest: number; newest: number } | null; inSync: boolean }[];
  warnings: string[];
};

/**
 * A rolling upgrade's replication, with two real daemons: gw-b plays a gateway of another release by claiming
 * other replication protocol versions (ha.replicationProtocolForTests, a knob for tests only; its messages keep
 * this release's shape). The next release (2-3) interoperates with this one (1-2); one two releases ahead (3-4)
 * is refused clearly by both, while the pair keeps serving; back at a shared version it catches up by itself.
 */
describe("replication protocol versions, two gateways", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: HaTopology;
  let group: HaGroup;
  let a: DaemonHandle;
  let b: DaemonHandle;
  const logs = () => `--- gw-a ---\n${a?.log().slice(-4000)}\n--- gw-b ---\n${b?.log().slice(-4000)}`;
  const status = async (d: DaemonHandle) => (await d.api("GET", "/v1/status")).body as Status;
  const egressIps = async (d: DaemonHandle) => ((await d.api("GET", "/v1/egress-ips")).body as { egressIps: { address: string }[] }).egressIps.map((ip) => ip.address);
  const seenAs = async () => {
    const result = await whoami(topo.pods.a, HA_ADDR.server.v4, 8080, 2_000);
    return result.ok ? result.seenAs : `failed:${result.error}`;
  };

  /** Restarts gw-b claiming `range` (undefined: its release's own versions), as an upgrade or a downgrade would. */
  const restartB = async (range: { oldest: number; newest: number } | undefined) => {
    await b.stop();
    const path = join(b.dir, "egw.json");
    const config = JSON.parse(readFileSync(path, "utf8")) as { ha: Record<string, unknown> };
    if (range) config.ha["replicationProtocolForTests"] = range;
    else delete config.ha["replicationProtocolForTests"];
    writeFileSync(path, JSON.stringify(config, null, 2));
    await b.start();
    await group.waitForRole("b", "backup", 15_000);
  };

  before(async () => {
    topo = await buildHaTopology();
    await startWhoamiServer(topo.server);
    group = await startHaGroup(topo);
    a = group.daemons.a;
    b = group.daemons.b;
    assert.equal((await a.api("POST", "/v1/egress-ips", { address: "203.0.113.10" })).status, 201);
    assert.equal((await a.api("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] })).status, 201);
    const mappings = await a.api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [{ name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" }] });
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    const routes = await a.api("PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.0.0/16", via: HA_ADDR.node.v4 }] });
    assert.equal(routes.status, 200, JSON.stringify(routes.body));
  });

  after(async () => {
    await group?.stop();
    await topo?.destroy();
    const directories = group ? [...Object.values(group.daemons).map((d) => d.dir), group.certificates] : [];
    assert.deepEqual(leftovers(topo?.namespaces ?? [], directories), [], "the test leaves nothing behind");
  });

  it("states the release and the protocol versions: same release, in sync", async () => {
    const version = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
    const [sa, sb] = [await status(a), await status(b)];
    assert.equal(sa.version, version);
    assert.deepEqual(sa.replicationProtocol, { oldest: 1, newest: 2 });
    assert.equal(sa.peers[0]?.replication, "in-sync", logs());
    assert.deepEqual(sa.peers[0]?.replicationProtocol, { oldest: 1, newest: 2 });
    assert.deepEqual(sb.replicationProtocol, { oldest: 1, newest: 2 });
    assert.match(a.log(), new RegExp(`"version":"${version.replaceAll(".", "\\.")}".*"msg":"egw starting"`));
  });

  it("a backup of the next release (2-3) interoperates: writes replicate to it, and its forwarded writes are taken", async () => {
    await restartB({ oldest: 2, newest: 3 });
    assert.match(b.log(), /ha\.replicationProtocolForTests is set/);
    const created = await a.api("POST", "/v1/egress-ips", { address: "203.0.113.11" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers["egw-replicated-to"], "gw-b", `acknowledged once gw-b has it\n${logs()}`);
    const forwarded = await b.api("POST", "/v1/egress-ips", { address: "203.0.113.12" });
    assert.equal(forwarded.status, 201, JSON.stringify(forwarded.body));
    assert.equal(forwarded.headers["egw-forwarded-to"], "gw-a");
    await waitFor(async () => (await egressIps(b)).includes("203.0.113.12"), 10_000, "gw-b to have the write it forwarded");
    const sa = await status(a);
    assert.equal(sa.peers[0]?.replication, "in-sync");
    assert.deepEqual(sa.peers[0]?.replicationProtocol, { oldest: 2, newest: 3 });
    assert.deepEqual((await status(b)).replicationProtocol, { oldest: 2, newest: 3 });
    assert.deepEqual(sa.warnings.filter((w) => /replication/.test(w)), []);
  });

  it("a gateway two releases ahead (3-4) is refused clearly by both, and the pair keeps serving", async (t) => {
    await restartB({ oldest: 3, newest: 4 });
    const started = Date.now();
    const created = await a.api("POST", "/v1/egress-ips", { address: "203.0.113.13" });
    const tookMs = Date.now() - started;
    assert.equal(created.status, 201, "the leader keeps taking writes");
    assert.equal(created.headers["egw-replication-behind"], "gw-b=incompatible", logs());
    assert.ok(tookMs < 1_500, `not held for replicationTimeoutMs: gw-b can never confirm it (${tookMs} ms)`);

    // The leader: status and log say it stopped replicating to gw-b, and why, naming both versions.
    const sa = await status(a);
    assert.equal(sa.role, "master");
    assert.equal(sa.peers[0]?.replication, "incompatible");
    assert.match(sa.peers[0]?.replicationError ?? "", /gw-b speaks replication protocol 3-4, gw-a speaks 1-2: no version in common/);
    assert.deepEqual(sa.peers[0]?.replicationProtocol, { oldest: 3, newest: 4 });
    assert.ok(sa.warnings.some((w) => w.startsWith("not replicating to gw-b: gw-b speaks replication protocol 3-4")), JSON.stringify(sa.warnings));
    assert.match(a.log(), /"level":"error"[^\n]*not replicating to the peer: it speaks no replication protocol version this gateway speaks/);

    // gw-b: it refused gw-a's messages and says so; nothing of the refused write reached its store.
    await waitFor(async () => (await status(b)).warnings.some((w) => w.includes("refusing replication messages from gw-a")), 5_000, "gw-b to warn");
    assert.match((await status(b)).warnings.find((w) => w.includes("refusing")) ?? "", /gw-a speaks replication protocol 1-2 \(this message: version 2\), gw-b speaks 3-4/);
    assert.match(b.log(), /refused the peer's replication messages: incompatible replication protocol/);
    assert.ok(!(await egressIps(b)).includes("203.0.113.13"));

    // A write sent to gw-b is not forwarded to a leader it cannot speak to: a clear refusal, not a retry-later.
    const viaB = await b.api("POST", "/v1/egress-ips", { address: "203.0.113.14" });
    assert.equal(viaB.status, 409, JSON.stringify(viaB.body));
    assert.equal((viaB.body as { code: string }).code, "incompatible-peer");
    assert.match((viaB.body as { detail: string }).detail, /gw-a speaks replication protocol 1-2, gw-b speaks 3-4/);
    assert.ok(!(await egressIps(a)).includes("203.0.113.14"));

    // Serving: traffic leaves with its egress IP, both APIs answer, VRRP roles unchanged, neither daemon crashed.
    assert.equal(await seenAs(), "203.0.113.10");
    assert.equal((await status(b)).role, "backup");
    assert.ok(a.pid() !== undefined && b.pid() !== undefined);
    t.diagnostic(`gw-a warnings: ${JSON.stringify((await status(a)).warnings)}`);
    t.diagnostic(`gw-b warnings: ${JSON.stringify((await status(b)).warnings)}`);
    t.diagnostic(`refusal of a write sent to gw-b: ${JSON.stringify(viaB.body)}`);
    assert.doesNotMatch(`${a.log()}\n${b.log()}`, /unhandled rejection|"level":"fatal"/);
  });

  it("back at this release, gw-b catches up by itself and the warnings clear", async () => {
    await restartB(undefined);
    await waitFor(async () => (await egressIps(b)).includes("203.0.113.13"), 15_000, `gw-b to catch up\n${logs()}`);
    await waitFor(async () => (await status(a)).peers[0]?.replication === "in-sync", 10_000, "gw-a to see gw-b in sync");
    assert.deepEqual((await egressIps(b)).sort(), (await egressIps(a)).sort());
    const sa = await status(a);
    assert.equal(sa.peers[0]?.replicationError, null);
    assert.deepEqual(sa.peers[0]?.replicationProtocol, { oldest: 1, newest: 2 });
    assert.deepEqual(sa.warnings.filter((w) => /replicat/.test(w)), []);
    assert.deepEqual((await status(b)).warnings.filter((w) => /replicat/.test(w)), []);
  });
});
