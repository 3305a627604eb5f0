import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import type { DaemonHandle } from "../../lab/daemon.js";
import { PEER_PORT, startHaGroup, waitFor, type HaGroup } from "../../lab/ha-group.js";
import { buildHaTopology, HA_ADDR, type GatewayKey, type HaTopology } from "../../lab/ha-topology.js";
import type { Netns } from "../../lab/netns.js";
import type { ProbeRequest, ProbeResult } from "../../lab/peer-probe.js";
import { changesSince, epochOfRevision, exportSnapshot, position, type Snapshot } from "../../appliance/replication/log.js";
import { createPeerCertificate } from "../../appliance/tls/peer-cert.js";
import { hostCommandsAndFiles } from "../../appliance/system/system.js";

const isRoot = process.getuid?.() === 0;
const PROBE = fileURLToPath(new URL("../../lab/peer-probe.js", import.meta.url));
const VIP = HA_ADDR.vip.v4;

/**
 * The replication channel under attack, in the two-gateway lab: hosts on the inside LAN without the pinned
 * certificate, and a compromised peer that holds the real peer's key and sends forged or replayed messages.
 * Then keepalived SIGKILLed on the master: the VIPs must end up on exactly one gateway.
 */
describe("replication security and the keepalived watch, two gateways", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: HaTopology;
  let group: HaGroup;
  let a: DaemonHandle;
  let b: DaemonHandle;
  let scratch: string;
  const logs = () => `--- gw-a ---\n${a?.log().slice(-4000)}\n--- gw-b ---\n${b?.log().slice(-4000)}`;

  /** Runs the probe inside `ns`; a body goes through a file (a snapshot may exceed one argument). */
  const probe = async (ns: Netns, spec: Omit<ProbeRequest, "bodyFile"> & { body?: unknown }): Promise<ProbeResult> => {
    const { body, ...rest } = spec;
    let bodyFile: string | undefined;
    if (body !== undefined) {
      bodyFile = join(scratch, `body-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(bodyFile, JSON.stringify(body));
    }
    const result = await ns.exec(process.execPath, [PROBE, JSON.stringify({ ...rest, ...(bodyFile ? { bodyFile } : {}) })]);
    return JSON.parse(String(result.stdout).trim()) as ProbeResult;
  };
  const certOf = (name: string) => ({ cert: join(group.certificates, `${name}.crt`), key: join(group.certificates, `${name}.key`) });
  /** What a compromised gw-a sends to gw-b's replication listener, from gw-a's namespace, with gw-a's real key. */
  const asCompromisedA = (method: string, path: string, body?: unknown) =>
    probe(topo.gateways.a, { host: HA_ADDR.gateways.b.sync, port: PEER_PORT, method, path, body, ...certOf("gw-a") });
  /** A read-only look at a gateway's database, as an attacker who copied it would have. */
  const readStore = <T>(d: DaemonHandle, read: (db: Database.Database) => T): T => {
    const db = new Database(join(d.dir, "egw.db"), { readonly: true, fileMustExist: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  };
  const snatMap = async (key: GatewayKey) => (await topo.gateways[key].exec("nft", ["list", "map", "inet", "egress_gateway", "snat_v4"])).stdout;
  const configOf = async (d: DaemonHandle) => ({
    clusters: (await d.api("GET", "/v1/clusters")).body,
    egressIps: (await d.api("GET", "/v1/egress-ips")).body,
    mappings: (await d.api("GET", "/v1/clusters/prod/mappings")).body,
    revision: ((await d.api("GET", "/v1/status")).body as { revision: number }).revision,
  });

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "egw-repl-sec-"));
    topo = await buildHaTopology();
    group = await startHaGroup(topo);
    a = group.daemons.a;
    b = group.daemons.b;
    for (const address of ["203.0.113.10", "203.0.113.20"]) assert.equal((await a.api("POST", "/v1/egress-ips", { address })).status, 201);
    assert.equal((await a.api("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] })).status, 201);
    assert.equal((await a.api("POST", "/v1/clusters", { name: "other", sourceRanges: ["10.250.0.0/16"], egressIps: ["203.0.113.20"] })).status, 201);
    const mappings = await a.api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [{ name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" }] });
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    await waitFor(async () => (await snatMap("b")).includes("10.244.1.0/26 : 203.0.113.10"), 15_000, "gw-b's data plane to hold the mapping");
  });

  after(async () => {
    await group?.stop();
    await topo?.destroy();
    const left = topo ? topo.namespaces.map((ns) => ns.name).filter((name) => spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.includes(name)) : [];
    assert.deepEqual(left, [], "every namespace of this test is gone");
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("refuses clients without the pinned certificate at the replication listener", async (t) => {
    const stranger = mkdtempSync(join(scratch, "stranger-"));
    // A self-made certificate that names the peer, as anyone can make one: not pinned, so worthless.
    await createPeerCertificate(hostCommandsAndFiles(), "gw-b", stranger);
    const selfMade = { cert: join(stranger, "gw-b.crt"), key: join(stranger, "gw-b.key") };
    const target = { host: HA_ADDR.gateways.a.sync, port: PEER_PORT, method: "GET", path: "/internal/v1/replication/state" };

    // A host on the inside LAN reaches the sync address through the gateway (its default route is the VIP).
    for (const [what, client] of [["no certificate", {}], ["a self-made certificate naming gw-b", selfMade]] as const) {
      const result = await probe(topo.node, { ...target, ...client });
      t.diagnostic(`from the inside LAN with ${what}: ${JSON.stringify(result)}`);
      assert.notEqual(result.outcome, "http", `${what} from the inside LAN got an answer: ${JSON.stringify(result)}`);
    }
    // From the peer's own address (which any firewall on the sync link admits) the TLS layer is what refuses.
    for (const [what, client] of [["no certificate", {}], ["a self-made certificate naming gw-b", selfMade]] as const) {
      const result = await probe(topo.gateways.b, { ...target, ...client });
      assert.equal(result.outcome, "tls-refused", `${what}: ${JSON.stringify(result)}`);
    }
    await waitFor(async () => (a.log().match(/replication connection refused at the TLS handshake/g) ?? []).length >= 2, 5_000, "gw-a to log the refusals");
    // The real key gets through: the refusals above were about the certificate, not about reaching the port.
    const real = await probe(topo.gateways.b, { ...target, ...certOf("gw-b") });
    assert.equal(real.outcome, "http", JSON.stringify(real));
    assert.equal((real as { status: number }).status, 200);
  });

  it("refuses a forged snapshot sent with the real peer's certificate: logged, store and SNAT map unchanged", async () => {
    const before = await configOf(b);
    const mapBefore = await snatMap("b");
    const state = ((await asCompromisedA("GET", "/internal/v1/replication/state")) as { body: { epoch: number } }).body;
    // gw-b's own configuration, plus a cluster "evil" that takes prod's egress IP and brings a token hash of its choice.
    const snapshot = readStore(b, (db) => JSON.parse(JSON.stringify(exportSnapshot(db))) as Snapshot);
    const at = new Date().toISOString();
    snapshot.tables["clusters"]!.push({
      name: "evil", description: "", excludable_destinations: "[]", quota_mappings: null, quota_routes: null, quota_destinations: null, created_at: at, updated_at: at,
    });
    snapshot.tables["cluster_source_ranges"]!.push({ cluster: "evil", cidr: "10.99.0.0/16", family: 4, range_start: "0A630000", range_end: "0A63FFFF" });
    snapshot.tables["cluster_egress_ips"]!.find((g) => g["address"] === "203.0.113.10")!["cluster"] = "evil";
    snapshot.tables["tokens"]!.push({ id: "0123456789ab", cluster: "evil", description: "", hash: "AB".repeat(32), created_at: at, revoked_at: null });
    snapshot.tables["mappings"]!.push({
      cluster: "evil", name: "steal", source_cidr: "10.99.1.0/24", family: 4, range_start: "0A630100", range_end: "0A6301FF", egress_ip: "203.0.113.10",
      destinations: "[]", excluded_destinations: "[]", labels: "{}", created_at: at, updated_at: at,
    });
    const result = await asCompromisedA("POST", "/internal/v1/replication/snapshot", { epoch: state.epoch, leader: "gw-a", snapshot });
    assert.equal(result.outcome, "http", JSON.stringify(result));
    const answer = result as { status: number; body: { code: string; rule: string; detail: string } };
    assert.equal(answer.status, 422, JSON.stringify(answer.body));
    assert.equal(answer.body.code, "replication-refused");
    assert.equal(answer.body.rule, "mapping-valid");
    assert.match(answer.body.detail, /203\.0\.113\.10 is not one cluster prod may use/);
    await waitFor(async () => /"level":"error"[^\n]*"leader":"gw-a"[^\n]*refused a replication message that breaks the store's rules/.test(b.log()), 5_000, `gw-b to log the refusal at error\n${logs()}`);
    assert.deepEqual(await configOf(b), before, "gw-b's store is unchanged");
    assert.equal(await snatMap("b"), mapBefore, "gw-b's SNAT map is unchanged");
    assert.doesNotMatch(await snatMap("b"), /10\.99\./);
  });

  it("refuses a replayed old changes message and one from a stale epoch, logged, changing nothing", async () => {
    assert.equal((await a.api("PATCH", "/v1/egress-ips/203.0.113.20", { description: "a later revision" })).status, 200);
    await waitFor(async () => (await configOf(b)).revision === (await configOf(a)).revision, 10_000, "gw-b to catch up");
    const before = await configOf(b);
    const { epoch } = ((await asCompromisedA("GET", "/internal/v1/replication/state")) as { body: { epoch: number } }).body;
    // A message gw-a really sent earlier: revision 2, on top of revision 1.
    const replay = readStore(a, (db) => ({
      epoch, leader: "gw-a", base: { revision: 1, revisionEpoch: epochOfRevision(db, 1) ?? 0 }, revisions: changesSince(db, 1, 2) ?? [],
    }));
    const replayed = await asCompromisedA("POST", "/internal/v1/replication/changes", replay);
    assert.equal(replayed.outcome === "http" && replayed.status, 409, JSON.stringify(replayed));
    assert.equal((replayed as { body: { code: string } }).body.code, "stale-message");
    const stale = await asCompromisedA("POST", "/internal/v1/replication/changes", { epoch: epoch - 1, leader: "gw-a", base: readStore(b, position), revisions: [] });
    assert.equal(stale.outcome === "http" && stale.status, 409, JSON.stringify(stale));
    assert.equal((stale as { body: { code: string } }).body.code, "stale-epoch");
    await waitFor(async () => /"code":"stale-message"/.test(b.log()) && /"code":"stale-epoch"/.test(b.log()), 5_000, "gw-b to log both refusals");
    assert.deepEqual(await configOf(b), before);
  });

  it("forwards a chunked write sent to the backup, authenticated there, with no token on the way", async () => {
    const body = JSON.stringify({ name: "app-b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.10" });
    const answer = await new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
      const req = request({ socketPath: b.socket, method: "POST", path: "/v1/clusters/prod/mappings", headers: {
        authorization: `Bearer ${group.adminToken}`, "content-type": "application/json",
      } }, (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on("error", reject);
      // No Content-Length and two writes: the request goes out with Transfer-Encoding: chunked.
      req.write(body.slice(0, 7));
      setImmediate(() => req.end(body.slice(7)));
    });
    assert.equal(answer.status, 201, `${answer.text}\n${logs()}`);
    assert.equal(answer.headers["egw-forwarded-to"], "gw-a");
    const audit = readStore(a, (db) => db.prepare("SELECT actor, resource FROM audit_log ORDER BY id DESC LIMIT 1").get());
    assert.deepEqual(audit, { actor: "admin", resource: "clusters/prod/mappings/app-b" });
  });

  it("when keepalived is SIGKILLed on the master: the peer takes over, the VIP ends up on exactly one gateway, the old master forwards and returns as backup", async () => {
    const holders = async () => {
      const held: GatewayKey[] = [];
      for (const key of ["a", "b"] as const) {
        const addresses = (await topo.gateways[key].exec("ip", ["-o", "addr"])).stdout;
        if (addresses.includes(` ${VIP}/`) || addresses.includes(" 203.0.113.10/")) held.push(key);
      }
      return held;
    };
    assert.deepEqual(await holders(), ["a"]);
    const run = join(a.dir, "run");
    const pids = ["keepalived.pid", "vrrp.pid"].map((file) => Number(readFileSync(join(run, file), "utf8").trim()));
    // Both processes at once: keepalived gets no chance to remove its addresses itself.
    for (const pid of pids) process.kill(pid, "SIGKILL");

    await group.waitForRole("b", "master", 15_000).catch((error: unknown) => assert.fail(`${String(error)}\n${logs()}`));
    await waitFor(async () => (await holders()).join() === "b", 10_000, `the VIP and the egress IP to be held by gw-b alone\n${logs()}`);
    assert.deepEqual(await holders(), ["b"]);
    assert.notEqual(await group.role("a"), "master");
    assert.match(a.log(), /keepalived is not running: this gateway stops leading/);

    // The old master forwards writes to the new one (once gw-b has announced itself).
    let forwarded: { status: number; headers: Record<string, unknown> } | undefined;
    await waitFor(async () => {
      forwarded = await a.api("PATCH", "/v1/egress-ips/203.0.113.20", { description: "written after keepalived died on gw-a" });
      return forwarded.status !== 503;
    }, 15_000, `gw-a to forward writes\n${logs()}`);
    assert.equal(forwarded?.status, 200, JSON.stringify(forwarded));
    assert.equal(forwarded?.headers["egw-forwarded-to"], "gw-b");

    // Supervised, keepalived is restarted; it comes back as backup (nopreempt) and the role follows it again.
    await group.waitForRole("a", "backup", 15_000).catch((error: unknown) => assert.fail(`${String(error)}\n${logs()}`));
    assert.equal(await group.role("b"), "master");
    assert.deepEqual(await holders(), ["b"]);
  });
});
