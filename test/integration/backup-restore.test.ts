import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { leftovers } from "../../lab/leftovers.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";
import { until } from "../helpers/until.js";

const isRoot = process.getuid?.() === 0;
const EGW_BIN = fileURLToPath(new URL("../../bin/egw.js", import.meta.url));
const run = promisify(execFile);

/** The real CLI, as an operator runs it: its exit status, stdout and stderr. */
async function egw(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [EGW_BIN, ...args], { encoding: "utf8" });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

interface Ack {
  name: string;
  revision: number;
  /** When the daemon's answer arrived (monotonic clock). */
  at: number;
}

interface Mapping { name: string; sourceCidr: string; egressIp: string }

/**
 * The backup procedure of docs/operator-guide.md end to end, with the real daemon and the real CLI: `egw backup`
 * while the daemon keeps acknowledging writes, then `egw restore` onto a fresh gateway (its own namespaces, an empty
 * data directory) whose daemon must start with exactly the store of the backup's moment: clusters, mappings, egress
 * IPs, routes and tokens, and a data plane that translates the pods' traffic again.
 */
describe("backup while the daemon takes writes, restore onto a fresh gateway", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let first: GatewayTopology | undefined;
  let second: GatewayTopology | undefined;
  let daemon: DaemonHandle | undefined;
  let restored: DaemonHandle | undefined;
  let work = "";
  let backupFile = "";
  let backupRevision = 0;
  let keptToken = "";
  let revokedToken = "";
  const acks: Ack[] = [];
  let backupWindow = { start: 0, end: 0 };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "egw-it-backup-"));
    first = await buildGatewayTopology();
    await startWhoamiServer(first.server);
    daemon = await startDaemon(first.gateway);
  });

  after(async () => {
    for (const d of [restored, daemon]) {
      await d?.stop().catch(() => undefined);
      d?.cleanup();
    }
    await second?.destroy();
    await first?.destroy();
    rmSync(work, { recursive: true, force: true });
    const namespaces = [...(first?.namespaces ?? []), ...(second?.namespaces ?? [])];
    const directories = [work, ...[daemon, restored].flatMap((d) => (d ? [d.dir] : []))];
    assert.deepEqual(leftovers(namespaces, directories), [], "the test leaves nothing behind");
  });

  it("egw backup takes a copy of one moment while writes keep being acknowledged", async () => {
    const d = daemon as DaemonHandle;
    const ok = async (method: string, path: string, body?: unknown, status = 201) => {
      const response = await d.api(method, path, body);
      assert.equal(response.status, status, `${method} ${path}: ${JSON.stringify(response.body)}`);
      return response.body;
    };
    for (const address of ["203.0.113.10", "203.0.113.11", "2001:db8::10"]) await ok("POST", "/v1/egress-ips", { address });
    await ok("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"] });
    keptToken = ((await ok("POST", "/v1/clusters/prod/tokens", { description: "automation" })) as { token: string }).token;
    const revoked = (await ok("POST", "/v1/clusters/prod/tokens", { description: "retired" })) as { id: string; token: string };
    revokedToken = revoked.token;
    await ok("DELETE", `/v1/clusters/prod/tokens/${revoked.id}`, undefined, 200);
    await ok("PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.0.0/16", via: "172.31.0.11" }, { prefix: "fd00:10:244::/48", via: "fd00:172:31::11" }] }, 200);
    await ok("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [
      { name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" },
      { name: "app-b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11" },
      { name: "app-a-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" },
    ] }, 200);

    // One writer, one mapping per request, each answer recorded with the revision the daemon acknowledged.
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const name = `w${i}`;
        const response = await d.api("POST", "/v1/clusters/prod/mappings", { name, sourceCidr: `10.244.${200 + (i >> 8)}.${i & 255}/32`, egressIp: "203.0.113.11" });
        assert.equal(response.status, 201, JSON.stringify(response.body));
        acks.push({ name, revision: Number(response.headers["egw-revision"]), at: performance.now() });
      }
    })();
    try {
      await until(() => acks.length >= 20, "the writer under way", 15_000);
      backupFile = join(work, "egw-backup.db");
      backupWindow = { start: performance.now(), end: 0 };
      const backup = await egw("backup", "--config", join(d.dir, "egw.json"), "--output", backupFile, "--json");
      backupWindow.end = performance.now();
      assert.equal(backup.code, 0, backup.stderr);
      const report = JSON.parse(backup.stdout) as { revision: number; mode: string; integrity: string; clusters: number; egressIps: number; tokens: number };
      backupRevision = report.revision;
      assert.deepEqual({ mode: report.mode, integrity: report.integrity, clusters: report.clusters, egressIps: report.egressIps, tokens: report.tokens },
        { mode: "0600", integrity: "ok", clusters: 1, egressIps: 3, tokens: 1 });
      const seen = acks.length;
      await until(() => acks.length >= seen + 5, "writes acknowledged after the backup", 15_000);
    } finally {
      writing = false;
      await writer;
    }
    const during = acks.filter((a) => a.at > backupWindow.start && a.at < backupWindow.end);
    assert.ok(during.length > 0, `the daemon kept acknowledging writes while egw backup ran (${during.length} of ${acks.length})`);
    const before = acks.filter((a) => a.at < backupWindow.start);
    assert.ok(before.every((a) => a.revision <= backupRevision), "every write acknowledged before the backup began is in it");
    assert.ok(acks.some((a) => a.revision > backupRevision), "writes acknowledged after the copy's moment are not");
  });

  it("egw restore refuses the database of a running daemon", async () => {
    const d = daemon as DaemonHandle;
    const refused = await egw("restore", backupFile, "--config", join(d.dir, "egw.json"), "--force");
    assert.equal(refused.code, 2, "trouble, not differences");
    assert.match(refused.stderr, new RegExp(`is open in pid ${d.pid()} \\(.*egw\\.js serve --config ${join(d.dir, "egw.json")}\\): stop the daemon first`));
    assert.equal((await d.api("GET", "/readyz", undefined, undefined)).status, 200, "the daemon did not notice");
  });

  it("a fresh gateway restored from it starts with the clusters, mappings, egress IPs, routes and tokens of the backup's moment", async () => {
    assert.ok(backupRevision > 0, "the backup test ran");
    const d = daemon as DaemonHandle;
    second = await buildGatewayTopology();
    await startWhoamiServer(second.server);
    // A fresh gateway: its configuration (as the operator brings it), an empty data directory, no database.
    const fresh = join(work, "fresh-gateway");
    mkdirSync(fresh, { mode: 0o700 });
    copyFileSync(join(d.dir, "egw.json"), join(fresh, "egw.json"));
    const restore = await egw("restore", backupFile, "--config", join(fresh, "egw.json"));
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, new RegExp(`^restored ${backupFile} to ${join(fresh, "egw.db")} \\(owner 0:0, mode 0600\\), integrity ok$`, "m"));
    restored = await startDaemon(second.gateway, { dir: fresh, adminToken: d.adminToken });
    const r = restored;

    const acknowledged = new Set(["app-a", "app-b", "app-a-v6", ...acks.filter((a) => a.revision <= backupRevision).map((a) => a.name)]);
    const original = ((await d.api("GET", "/v1/clusters/prod/mappings")).body as { mappings: Mapping[] }).mappings;
    const mappings = ((await r.api("GET", "/v1/clusters/prod/mappings")).body as { mappings: Mapping[] }).mappings;
    assert.deepEqual(mappings, original.filter((m) => acknowledged.has(m.name)), "exactly the mappings acknowledged up to the backup's revision, as they were");
    const status = (await r.api("GET", "/v1/status")).body as { revision: number };
    assert.equal(status.revision, backupRevision);
    for (const path of ["/v1/egress-ips", "/v1/clusters/prod/routes", "/v1/clusters/prod/tokens"]) {
      assert.deepEqual((await r.api("GET", path)).body, (await d.api("GET", path)).body, path);
    }
    const cluster = (await r.api("GET", "/v1/clusters/prod")).body as { sourceRanges: string[]; egressIps: string[] };
    assert.deepEqual([cluster.sourceRanges, cluster.egressIps], [["10.244.0.0/16", "fd00:10:244::/48"], ["203.0.113.10", "203.0.113.11", "2001:db8::10"]]);
    assert.equal((await r.api("GET", "/v1/clusters/prod/mappings", undefined, keptToken)).status, 200, "the cluster's token works on the restored gateway");
    assert.equal((await r.api("GET", "/v1/clusters/prod/mappings", undefined, revokedToken)).status, 401, "a token revoked before the backup stays revoked");

    // The restored gateway's data plane: the pods leave with their egress IPs again.
    const topo = second;
    const seenAs = async (pod: "a" | "b", family: 4 | 6) => {
      const result = await whoami(topo.pods[pod], family === 4 ? topo.addr.server.v4 : topo.addr.server.v6, 8080, 2_000);
      return result.ok ? result.seenAs : `failed:${result.error}`;
    };
    assert.equal(await seenAs("a", 4), "203.0.113.10");
    assert.equal(await seenAs("b", 4), "203.0.113.11");
    assert.equal(await seenAs("a", 6), "2001:db8::10");
  });
});
