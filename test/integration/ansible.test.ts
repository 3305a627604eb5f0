import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { leftovers } from "../../lab/leftovers.js";
import { PACKAGE_ROOT } from "../../appliance/paths.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;
const PLAYBOOK = join(PACKAGE_ROOT, "docs", "examples", "ansible", "egress-gateway.yml");
const API_PORT = 8443;

interface Recap { ok: number; changed: number; unreachable: number; failed: number; output: string }

/**
 * A private CA and the API's certificate for the gateway's inside address, as a site's own CA would issue it: the
 * playbook verifies the daemon against the CA (ca_path), as real automation must, instead of turning checks off.
 */
function issueApiCertificate(dir: string, address: string): { ca: string; cert: string; key: string } {
  const files = { ca: join(dir, "ca.crt"), caKey: join(dir, "ca.key"), cert: join(dir, "api.crt"), key: join(dir, "api.key") };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"];
  execFileSync("openssl", ["req", "-x509", ...ec, "-keyout", files.caKey, "-out", files.ca, "-subj", "/CN=egw-ansible-test-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], { stdio: "ignore" });
  execFileSync("openssl", ["req", "-x509", "-CA", files.ca, "-CAkey", files.caKey, ...ec, "-keyout", files.key, "-out", files.cert,
    "-subj", `/CN=${address}`, "-addext", `subjectAltName=IP:${address}`, "-addext", "basicConstraints=critical,CA:FALSE",
    "-addext", "keyUsage=critical,digitalSignature", "-addext", "extendedKeyUsage=serverAuth"], { stdio: "ignore" });
  return files;
}

/**
 * The example playbook, run twice against a real daemon, the way a cluster's automation runs it: from the cluster
 * node's namespace, over the inside network to the gateway's TLS listener, with the tokens in the environment.
 */
describe("the Ansible example (docs/examples/ansible) registers a cluster idempotently", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: GatewayTopology | undefined;
  let daemon: DaemonHandle | undefined;
  let work = "";
  let clusterToken = "";

  const desired = {
    egw_egress_ips: [
      { address: "203.0.113.10", description: "app a" },
      { address: "203.0.113.11", description: "app b" },
      { address: "2001:db8::10" },
    ],
    egw_cluster: {
      name: "ansible",
      description: "registered by the example playbook",
      sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"],
      egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"],
    },
    egw_routes: [{ prefix: "10.244.0.0/16", via: "172.31.0.11" }, { prefix: "fd00:10:244::/48", via: "fd00:172:31::11" }],
    egw_mappings: [
      { name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", labels: { namespace: "a", app: "web" } },
      { name: "app-b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11", destinations: ["203.0.113.0/24"] },
      { name: "app-a-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" },
    ],
  };

  /** Runs the playbook in the node's namespace with `vars` and the given tokens; returns the play recap. */
  const runPlaybook = async (vars: Record<string, unknown>, tokens: { admin?: string; cluster?: string }): Promise<Recap> => {
    const t = topo as GatewayTopology;
    const varsFile = join(work, "vars.json");
    writeFileSync(varsFile, JSON.stringify(vars), { mode: 0o600 });
    const env = {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      LC_ALL: "C.UTF-8",
      HOME: join(work, "home"),
      ANSIBLE_CONFIG: join(work, "ansible.cfg"),
      ANSIBLE_LOCAL_TEMP: join(work, "local-tmp"),
      ANSIBLE_REMOTE_TEMP: join(work, "remote-tmp"),
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_RETRY_FILES_ENABLED: "0",
      ANSIBLE_PYTHON_INTERPRETER: "/usr/bin/python3",
      ...(tokens.admin ? { EGW_ADMIN_TOKEN: tokens.admin } : {}),
      ...(tokens.cluster ? { EGW_CLUSTER_TOKEN: tokens.cluster } : {}),
    };
    const run = await t.node.exec("ansible-playbook", ["-i", "localhost,", "-e", `@${varsFile}`, PLAYBOOK],
      { env, extendEnv: false, cwd: work, reject: false, all: true, timeout: 180_000 });
    const output = run.all ?? "";
    const recap = /^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/m.exec(output);
    assert.ok(recap, `ansible-playbook printed a play recap (exit ${run.exitCode}):\n${output}`);
    const [ok, changed, unreachable, failed] = recap.slice(1).map(Number) as [number, number, number, number];
    for (const secret of [tokens.admin, tokens.cluster]) if (secret) assert.ok(!output.includes(secret), "no token in the output");
    assert.doesNotMatch(output, /DEPRECATION WARNING|\[WARNING\]/, `the playbook runs without warnings:\n${output}`);
    assert.equal(failed, 0, output);
    assert.equal(run.exitCode, 0, output);
    return { ok, changed, unreachable, failed, output };
  };

  /** What the API stores, in the playbook's terms. */
  const stored = async () => {
    const d = daemon as DaemonHandle;
    const cluster = (await d.api("GET", "/v1/clusters/ansible")).body as Record<string, unknown>;
    const routes = (await d.api("GET", "/v1/clusters/ansible/routes")).body as { routes: unknown[] };
    const mappings = (await d.api("GET", "/v1/clusters/ansible/mappings")).body as { mappings: unknown[] };
    const ips = (await d.api("GET", "/v1/egress-ips")).body as { egressIps: { address: string; description: string }[] };
    return { cluster, routes: routes.routes, mappings: mappings.mappings, ips: ips.egressIps };
  };
  const seenAs = async (family: 4 | 6) => {
    const t = topo as GatewayTopology;
    const result = await whoami(t.pods.a, family === 4 ? t.addr.server.v4 : t.addr.server.v6, 8080, 2_000);
    return result.ok ? result.seenAs : `failed:${result.error}`;
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "egw-ansible-"));
    for (const sub of ["home", "local-tmp", "remote-tmp"]) mkdirSync(join(work, sub), { mode: 0o700 });
    // An empty configuration file, so no /etc/ansible/ansible.cfg or ~/.ansible.cfg of the host changes the run.
    writeFileSync(join(work, "ansible.cfg"), "");
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
    const tls = issueApiCertificate(work, topo.addr.gateway.inside4);
    daemon = await startDaemon(topo.gateway, { listen: [`${topo.addr.gateway.inside4}:${API_PORT}`], api: { tls: { cert: tls.cert, key: tls.key } } });
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
    assert.deepEqual(leftovers(topo?.namespaces ?? [], [...(daemon ? [daemon.dir] : []), ...(work ? [work] : [])]), [], "the test leaves nothing behind");
  });

  const baseVars = () => ({ egw_api_url: `https://${topo?.addr.gateway.inside4}:${API_PORT}`, egw_ca_path: join(work, "ca.crt") });

  it("the first run registers everything with the admin token and reports changes", async () => {
    const recap = await runPlaybook({ ...baseVars(), ...desired }, { admin: daemon?.adminToken as string });
    // The recap counts tasks: the egress IPs (one loop), the cluster, the routes and the mappings.
    assert.equal(recap.changed, 4, recap.output);
  });

  it("the appliance holds exactly the desired state, and the data plane applied it", async () => {
    const state = await stored();
    assert.deepEqual(
      { description: state.cluster["description"], sourceRanges: state.cluster["sourceRanges"], egressIps: state.cluster["egressIps"] },
      { description: desired.egw_cluster.description, sourceRanges: desired.egw_cluster.sourceRanges, egressIps: desired.egw_cluster.egressIps },
    );
    assert.deepEqual(state.routes, desired.egw_routes);
    const withDefaults = desired.egw_mappings
      .map((m) => ({ destinations: [], excludedDestinations: [], labels: {}, ...m }))
      .sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(state.mappings, withDefaults);
    assert.deepEqual(state.ips.map((ip) => [ip.address, ip.description]),
      [["203.0.113.10", "app a"], ["203.0.113.11", "app b"], ["2001:db8::10", ""]]);
    // The writes asked for ?wait=true, so the playbook only returned once the data plane had them.
    assert.equal(await seenAs(4), "203.0.113.10");
    assert.equal(await seenAs(6), "2001:db8::10");
  });

  it("a second run, with the admin token and the cluster's own token, changes nothing", async () => {
    const d = daemon as DaemonHandle;
    const issued = await d.api("POST", "/v1/clusters/ansible/tokens", { description: "ansible test" });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    clusterToken = (issued.body as { token: string }).token;
    const revisionBefore = ((await d.api("GET", "/v1/status")).body as { revision: number }).revision;
    const recap = await runPlaybook({ ...baseVars(), ...desired }, { admin: d.adminToken, cluster: clusterToken });
    assert.equal(recap.changed, 0, recap.output);
    assert.equal(((await d.api("GET", "/v1/status")).body as { revision: number }).revision, revisionBefore, "the revision did not move");
    // What the playbook's comparison spares is also a no-op at the API: the same whole set again moves nothing.
    const again = await d.api("PUT", "/v1/clusters/ansible/mappings", { mappings: desired.egw_mappings }, clusterToken);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.headers["egw-revision"], String(revisionBefore));
  });

  it("with only the cluster token, one changed mapping is one change, and it takes effect", async () => {
    const changedMappings = desired.egw_mappings.map((m) => (m.name === "app-a" ? { ...m, egressIp: "203.0.113.11" } : m));
    const recap = await runPlaybook({ ...baseVars(), ...desired, egw_mappings: changedMappings }, { cluster: clusterToken });
    assert.equal(recap.changed, 1, recap.output);
    const mapping = await (daemon as DaemonHandle).api("GET", "/v1/clusters/ansible/mappings/app-a");
    assert.equal((mapping.body as { egressIp: string }).egressIp, "203.0.113.11");
    assert.equal(await seenAs(4), "203.0.113.11");
    const again = await runPlaybook({ ...baseVars(), ...desired, egw_mappings: changedMappings }, { cluster: clusterToken });
    assert.equal(again.changed, 0, again.output);
    desired.egw_mappings = changedMappings;
  });

  it("an admin change of the grants writes only what differs: a new egress IP, the cluster's grants, a description", async () => {
    const d = daemon as DaemonHandle;
    const grown = {
      ...desired,
      egw_egress_ips: [...desired.egw_egress_ips.map((ip) => (ip.address === "203.0.113.11" ? { ...ip, description: "app b, renamed" } : ip)), { address: "2001:db8::11" }],
      egw_cluster: { ...desired.egw_cluster, egressIps: [...desired.egw_cluster.egressIps, "2001:db8::11"] },
    };
    const recap = await runPlaybook({ ...baseVars(), ...grown }, { admin: d.adminToken, cluster: clusterToken });
    // The new egress IP, the renamed one, and the cluster's grants; routes and mappings are as they were.
    assert.equal(recap.changed, 3, recap.output);
    const state = await stored();
    assert.deepEqual(state.cluster["egressIps"], ["203.0.113.10", "203.0.113.11", "2001:db8::10", "2001:db8::11"]);
    assert.equal(state.ips.find((ip) => ip.address === "203.0.113.11")?.description, "app b, renamed");
    assert.equal((await runPlaybook({ ...baseVars(), ...grown }, { admin: d.adminToken, cluster: clusterToken })).changed, 0);
  });
});
