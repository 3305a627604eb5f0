import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;
const NOBODY = { uid: 65534, gid: 65534 };
/** Bit 12 of the capability sets: CAP_NET_ADMIN, the only one the daemon keeps. */
const CAP_NET_ADMIN_ONLY = (1n << 12n).toString(16).padStart(16, "0");

/**
 * The daemon as the systemd unit runs it: an ordinary user holding CAP_NET_ADMIN and no other capability.
 * That is enough to own its nft table, the pod routes, the egress addresses and the forwarding sysctls; a
 * compromised daemon then cannot read other users' files, load modules or take the machine.
 */
describe("the daemon without root: one capability, CAP_NET_ADMIN", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: GatewayTopology;
  let daemon: DaemonHandle | undefined;

  before(async () => {
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
    daemon = await startDaemon(topo.gateway, { unprivileged: NOBODY });
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
  });

  it("runs as the unprivileged user with CAP_NET_ADMIN as its only capability", () => {
    const status = readFileSync(`/proc/${daemon?.pid()}/status`, "utf8");
    assert.match(status, new RegExp(`^Uid:\\s+${NOBODY.uid}\\s+${NOBODY.uid}\\s+${NOBODY.uid}\\s+${NOBODY.uid}$`, "m"));
    assert.match(status, new RegExp(`^CapEff:\\s+${CAP_NET_ADMIN_ONLY}$`, "m"));
    assert.match(status, new RegExp(`^CapBnd:\\s+${CAP_NET_ADMIN_ONLY}$`, "m"));
  });

  it("applies mappings, routes, egress addresses and forwarding, and traffic leaves with the egress IP", async () => {
    const d = daemon as DaemonHandle;
    assert.equal((await d.api("POST", "/v1/egress-ips", { address: "203.0.113.10" })).status, 201);
    assert.equal((await d.api("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] })).status, 201);
    const mappings = await d.api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [{ name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" }] });
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    const routes = await d.api("PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.0.0/16", via: topo.addr.node.v4 }] });
    assert.equal(routes.status, 200, JSON.stringify(routes.body));
    const seen = await whoami(topo.pods.a, topo.addr.server.v4, 8080, 5_000);
    assert.deepEqual(seen, { ok: true, seenAs: "203.0.113.10" }, d.log().slice(-3000));
    assert.equal((await topo.gateway.exec("sysctl", ["-n", "net.ipv4.ip_forward"])).stdout.trim(), "1");
  });

  it("keeps the database, its WAL and shared-memory files readable by its own user only", () => {
    const d = daemon as DaemonHandle;
    for (const name of ["egw.db", "egw.db-wal", "egw.db-shm"]) {
      const stat = statSync(join(d.dir, name));
      assert.equal((stat.mode & 0o777).toString(8), "600", name);
      assert.equal(stat.uid, NOBODY.uid, name);
    }
  });
});
