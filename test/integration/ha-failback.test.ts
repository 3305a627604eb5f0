import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openStream, startHaGroup, waitFor, type HaGroup } from "../../lab/ha-group.js";
import { buildHaTopology, HA_ADDR, type HaTopology } from "../../lab/ha-topology.js";
import { leftovers } from "../../lab/leftovers.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;
const SERVER = HA_ADDR.server.v4;

/**
 * Failover back and forth: gw-a dies hard, comes back (its run directory, with what its killed processes left in
 * it, survives), takes mastership back by a handover, and dies hard again. A connection opened through gw-a after
 * its return must be known to gw-b's kernel before the second failure and survive it: the returned gateway's
 * conntrackd must be running and syncing, not refusing to start over the lock file the killed one left.
 */
describe("two gateways: failover, return, handover back and a second failover", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: HaTopology;
  let group: HaGroup;
  const logs = () => `--- gw-a ---\n${group?.daemons.a.log().slice(-3000)}\n--- gw-b ---\n${group?.daemons.b.log().slice(-3000)}`;
  const established = async (key: "a" | "b") =>
    (await topo.gateways[key].exec("conntrack", ["-L", "-p", "tcp", "--dport", "8081", "--state", "ESTABLISHED"], { reject: false })).stdout;

  before(async () => {
    topo = await buildHaTopology();
    await startWhoamiServer(topo.server, { stream: true });
    group = await startHaGroup(topo);
    const api = group.daemons.a.api;
    const must = async (method: string, path: string, body: unknown) => {
      const answer = await api(method, path, body);
      assert.ok(answer.status < 300, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    };
    await must("POST", "/v1/egress-ips", { address: "203.0.113.10" });
    await must("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] });
    await must("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [{ name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" }] });
    await must("PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.0.0/16", via: HA_ADDR.node.v4 }] });
  });

  after(async () => {
    await group?.stop();
    await topo?.destroy();
    const directories = group ? [...Object.values(group.daemons).map((d) => d.dir), group.certificates] : [];
    assert.deepEqual(leftovers(topo?.namespaces ?? [], directories), [], "the test leaves nothing behind");
  });

  it("a stream opened through the returned gateway after the handover survives its second hard failure", async (t) => {
    // First failure: every process of gw-a killed, its links down; gw-b takes over.
    topo.gateways.a.killAll();
    await topo.cutGateway("a");
    await group.waitForRole("b", "master", 10_000);
    // gw-a comes back as backup and takes mastership back by a handover.
    await topo.restoreGateway("a");
    await group.daemons.a.start();
    await group.waitForRole("a", "backup", 15_000);
    const handover = await group.daemons.b.api("POST", "/v1/ha/handover");
    assert.equal(handover.status, 200, JSON.stringify(handover.body));
    await group.waitForRole("a", "master", 10_000);
    assert.deepEqual(await whoami(topo.pods.a, SERVER, 8080, 2_000), { ok: true, seenAs: "203.0.113.10" });

    const stream = await openStream(topo.pods.a, SERVER);
    // gw-a's conntrackd syncs the new connection to gw-b, whose kernel holds it before gw-a dies again.
    await waitFor(async () => /ESTABLISHED/.test(await established("b")), 10_000, "gw-b's kernel to hold the stream gw-a synced")
      .catch(async (error: unknown) => assert.fail(`${String(error)}\ngw-a: ${await established("a")}\ngw-b: ${await established("b")}\n${logs()}`));
    topo.gateways.a.killAll();
    await topo.cutGateway("a");
    await group.waitForRole("b", "master", 10_000);
    await sleep(1_500);
    const flow = await stream.finish();
    t.diagnostic(`established stream through the second failover: ${JSON.stringify(flow)}`);
    assert.equal(flow.error, null, `the stream broke: ${JSON.stringify(flow)}\n${logs()}`);
    assert.ok(flow.received > 0 && flow.received >= flow.sent - 5, `echoes kept coming after the failover: ${JSON.stringify(flow)}`);
  });
});
