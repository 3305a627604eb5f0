import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parse as parseYaml } from "yaml";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { leftovers } from "../../lab/leftovers.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;
const EGW_BIN = fileURLToPath(new URL("../../bin/egw.js", import.meta.url));
const run = promisify(execFile);

/**
 * The operator's CLI against a real daemon in a namespace: every call goes through the typed client generated from
 * the OpenAPI document (client/), over the daemon's unix socket, so this proves the client, its error mapping and
 * the CLI's exit statuses end to end; the traffic of a pod then leaves with the egress IP the CLI mapped.
 */
describe("egw (the typed client) against a real daemon", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: GatewayTopology;
  let daemon: DaemonHandle | undefined;

  /** The real CLI, as an operator runs it (outside the gateway's namespace, through the socket). */
  const egw = async (args: string[], token?: string): Promise<{ code: number; stdout: string; stderr: string }> => {
    const d = daemon as DaemonHandle;
    const env = { ...process.env, EGW_TOKEN: token ?? d.adminToken, EGW_SOCKET: d.socket, EGW_URL: "", EGW_TOKEN_FILE: "" };
    try {
      const { stdout, stderr } = await run(process.execPath, [EGW_BIN, ...args], { encoding: "utf8", env, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
    }
  };
  const ok = async (args: string[], token?: string) => {
    const result = await egw(args, token);
    assert.equal(result.code, 0, `egw ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };

  before(async () => {
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
    // No drift repair during the test: the difference made by hand below must stay for egw show nft --diff to see.
    daemon = await startDaemon(topo.gateway, { dataplane: { driftCheckIntervalMs: 3_600_000 } });
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
    assert.deepEqual(leftovers(topo?.namespaces ?? [], daemon ? [daemon.dir] : []), [], "the test leaves nothing behind");
  });

  it("sets up egress IPs, a cluster, routes and mappings; the pod leaves with the mapped egress IP", async () => {
    assert.equal(await ok(["egress-ips", "add", "203.0.113.10", "--description", "erp", "--wait"]), "added egress IP 203.0.113.10\n");
    await ok(["egress-ips", "add", "2001:db8::10", "--wait"]);
    assert.match(await ok(["egress-ips", "list"]), /^2001:db8::10 +IPv6 +- *$/m);
    assert.match(await ok(["clusters", "create", "prod", "--source-range", "10.244.1.0/24,fd00:10:244:1::/64", "--egress-ip", "203.0.113.10,2001:db8::10", "--wait"]), /^created cluster prod\n/);

    assert.equal(await ok(["routes", "add", "prod", "10.244.1.0/26", "--via", topo.addr.node.v4, "--wait"]), `added route 10.244.1.0/26 via ${topo.addr.node.v4} to cluster prod\n`);
    const routesFile = join((daemon as DaemonHandle).dir, "routes.yaml");
    writeFileSync(routesFile, `routes:\n  - {prefix: 10.244.1.0/26, via: ${topo.addr.node.v4}}\n  - {prefix: "fd00:10:244:1::/64", via: "${topo.addr.node.v6}"}\n`);
    assert.match(await ok(["routes", "apply", "prod", "-f", routesFile, "--wait"]), /^\+ fd00:10:244:1::\/64 +via fd00:172:31::11\n1 to add, 0 to change, 0 to remove, 1 unchanged\napplied: cluster prod has 2 routes at revision \d+\n$/);
    const routes = JSON.parse(await ok(["routes", "list", "prod", "--json"])) as { routes: { prefix: string; via: string }[] };
    assert.deepEqual(routes.routes.map((r) => r.prefix).sort(), ["10.244.1.0/26", "fd00:10:244:1::/64"]);

    const mappingsFile = join((daemon as DaemonHandle).dir, "mappings.yaml");
    writeFileSync(mappingsFile, "mappings:\n  - {name: erp, sourceCidr: 10.244.1.0/26, egressIp: 203.0.113.10, labels: {namespace: erp}}\n");
    assert.match(await ok(["mappings", "apply", "prod", "-f", mappingsFile, "--wait"]), /^\+ erp +10\.244\.1\.0\/26 → 203\.0\.113\.10\n/);
    assert.match(await ok(["mappings", "list", "prod"]), /^erp +10\.244\.1\.0\/26 +203\.0\.113\.10 +- +- +namespace=erp$/m);

    const seen = await whoami(topo.pods.a, topo.addr.server.v4, 8080, 2_000);
    assert.deepEqual(seen, { ok: true, seenAs: "203.0.113.10" }, "the mapping the CLI applied is in force");
    const status = JSON.parse(await ok(["status", "--json"])) as { revision: number; inSync: boolean };
    assert.equal(status.inSync, true);
  });

  it("a refusal, a bad token and an unreachable daemon are trouble (exit status 2) with the API's words", async () => {
    const overlap = await egw(["routes", "add", "prod", "10.244.1.0/26", "--via", topo.addr.node.v4]);
    assert.equal(overlap.code, 2);
    assert.match(overlap.stderr, /^egw: POST \/v1\/clusters\/prod\/routes: 409 \S+: /);
    const invalid = await egw(["mappings", "apply", "prod", "-f", "-"]);
    assert.equal(invalid.code, 2, "an empty stdin is not a list of mappings");
    const unauthorized = await egw(["status"], "not-a-token-of-this-gateway-0123456789");
    assert.equal(unauthorized.code, 2);
    assert.match(unauthorized.stderr, /: 401 unauthorized: .*\n {2}\(pass the admin token with --token-file FILE or EGW_TOKEN\)\n$/);
    const nowhere = await egw(["status", "--socket", join((daemon as DaemonHandle).dir, "nowhere.sock")]);
    assert.equal(nowhere.code, 2);
    assert.match(nowhere.stderr, /^egw: no API socket at unix:.*nowhere\.sock \(is egw running\?/);
  });

  it("a cluster's token works for its own cluster and is refused the admin's resources", async () => {
    const issued = await ok(["tokens", "issue", "prod", "--description", "ci"]);
    const token = issued.trim().split("\n").at(-1) as string;
    assert.match(await ok(["mappings", "list", "prod"], token), /^erp /m);
    const forbidden = await egw(["egress-ips", "list"], token);
    assert.equal(forbidden.code, 2);
    assert.match(forbidden.stderr, /^egw: GET \/v1\/egress-ips: 403 /);
  });

  it("egw show nft --diff: 0 while the kernel matches, 1 once it differs (as diff does)", async () => {
    const d = daemon as DaemonHandle;
    const diff = () => topo.gateway.exec(process.execPath, [EGW_BIN, "show", "nft", "--diff", "--config", join(d.dir, "egw.json")], { reject: false });
    const same = await diff();
    assert.equal(same.exitCode, 0, `${same.stdout}${same.stderr}`);
    assert.match(same.stdout, /^no differences: the live table inet \S+ matches store revision \d+$/, "execa strips the final newline");
    await topo.gateway.exec("nft", ["add", "element", "inet", "egress_gateway", "snat_v4", "{ 10.244.9.0/24 : 203.0.113.10 }"]);
    const differs = await diff();
    assert.equal(differs.exitCode, 1, `${differs.stdout}${differs.stderr}`);
    assert.match(differs.stdout, /^- snat_v4 10\.244\.9\.0\/24 : 203\.0\.113\.10 +\(live, not rendered\)$/m);
  });

  it("egw openapi --format yaml is the very document the daemon serves", async () => {
    const served = await (daemon as DaemonHandle).api("GET", "/openapi.json");
    assert.equal(served.status, 200);
    assert.deepEqual(parseYaml(await ok(["openapi", "--format", "yaml"])), served.body);
  });
});
