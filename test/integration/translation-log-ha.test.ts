import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DaemonHandle } from "../../lab/daemon.js";
import { openStream, startHaGroup, waitFor, type HaGroup } from "../../lab/ha-group.js";
import { buildHaTopology, HA_ADDR, type HaTopology } from "../../lab/ha-topology.js";
import { leftovers } from "../../lab/leftovers.js";
import { startWhoamiServer } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;
const SERVER = HA_ADDR.server.v4;

interface Translation { gateway: string; cluster: string; mapping: string; pod: { address: string; port: number }; egress: { address: string; port: number }; start: string; end: string | null }
interface Answer { translations: Translation[]; unanswered: { gateway: string; reason: string }[] }

/**
 * The translation log in a pair: connections move with a failover, so one question, asked of either gateway,
 * answers from both logs. The connection is a live TCP stream that survives a graceful switchover and then the
 * hard death of the gateway that first translated it.
 */
describe("translation log in an HA pair: one lookup answers for both gateways", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: HaTopology;
  let group: HaGroup;
  let a: DaemonHandle;
  let b: DaemonHandle;
  const logs = () => `--- gw-a ---\n${a?.log().slice(-3000)}\n--- gw-b ---\n${b?.log().slice(-3000)}`;

  /** The stream's source as the server sees it: what a firewall behind the gateways would log. */
  const streamAsSeenByServer = async (): Promise<{ address: string; port: number }> => {
    const { stdout } = await topo.server.exec("ss", ["-Htn", "state", "established", "( sport = :8081 )"]);
    const peer = stdout.trim().split(/\s+/).at(-1) ?? "";
    const match = /^(?:\[?::ffff:)?([\d.]+)\]?:(\d+)$/.exec(peer);
    assert.ok(match, `one established stream at the server: ${JSON.stringify(stdout)}`);
    return { address: match[1] as string, port: Number(match[2]) };
  };
  const ask = async (d: DaemonHandle, seen: { address: string; port: number }): Promise<Answer> => {
    const response = await d.api("GET", `/v1/translations?egressIp=${seen.address}&egressPort=${seen.port}&at=${new Date().toISOString()}&protocol=tcp`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body as Answer;
  };

  before(async () => {
    topo = await buildHaTopology();
    await startWhoamiServer(topo.server, { stream: true });
    group = await startHaGroup(topo, { daemon: () => ({ translationLog: { enabled: true } }) });
    a = group.daemons.a;
    b = group.daemons.b;
    for (const address of ["203.0.113.10", "203.0.113.11"]) assert.equal((await a.api("POST", "/v1/egress-ips", { address })).status, 201);
    assert.equal((await a.api("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10", "203.0.113.11"] })).status, 201);
    const mappings = await a.api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [{ name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" }] });
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    const routes = await a.api("PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.0.0/16", via: HA_ADDR.node.v4 }] });
    assert.equal(routes.status, 200, JSON.stringify(routes.body));
    await waitFor(async () => (await topo.gateways.b.exec("nft", ["list", "map", "inet", "egress_gateway", "snat_v4"])).stdout.includes("10.244.1.0/26"), 10_000, "gw-b's data plane to have the mapping");
  });

  after(async () => {
    await group?.stop();
    await topo?.destroy();
    const directories = group ? [...Object.values(group.daemons).map((d) => d.dir), group.certificates] : [];
    assert.deepEqual(leftovers(topo?.namespaces ?? [], directories), [], "the test leaves nothing behind");
  });

  it("finds a connection that survived a switchover and the old master's death, whichever gateway is asked", async () => {
    const stream = await openStream(topo.pods.a, SERVER);
    const seen = await streamAsSeenByServer();
    assert.equal(seen.address, "203.0.113.10");
    const pod = HA_ADDR.pods.a.v4;
    const holds = (answer: Answer, gateway: string) => answer.translations.some((t) => t.gateway === gateway && t.pod.address === pod && t.cluster === "prod" && t.mapping === "app-a" && t.end === null);

    // Before any failover: gw-a translated it; asking the backup answers from gw-a's log too.
    await waitFor(async () => holds(await ask(a, seen), "gw-a"), 10_000, "gw-a to log the stream");
    const fromBackup = await ask(b, seen);
    assert.ok(holds(fromBackup, "gw-a"), `asked at gw-b, answered from gw-a's log: ${JSON.stringify(fromBackup)}\n${logs()}`);
    assert.deepEqual(fromBackup.unanswered, []);

    // A switchover: conntrackd gives gw-b the connection, and gw-b's own log records it from then on.
    const handover = await b.api("POST", "/v1/ha/handover");
    assert.equal(handover.status, 200, JSON.stringify(handover.body));
    await group.waitForRole("b", "master", 10_000);
    await waitFor(async () => holds(await ask(b, seen), "gw-b"), 15_000, `gw-b to log the stream it took over\n${logs()}`);
    const fromOldMaster = await ask(a, seen);
    assert.ok(holds(fromOldMaster, "gw-a") && holds(fromOldMaster, "gw-b"), `one question at gw-a answers from both logs: ${JSON.stringify(fromOldMaster)}`);

    // gw-a dies hard: gw-b still answers from its own log, and says that gw-a could not be asked.
    topo.gateways.a.killAll();
    await topo.cutGateway("a");
    const afterDeath = await ask(b, seen);
    assert.ok(holds(afterDeath, "gw-b"), JSON.stringify(afterDeath));
    assert.deepEqual(afterDeath.unanswered.map((u) => u.gateway), ["gw-a"]);
    await sleep(500);
    const flow = await stream.finish();
    assert.equal(flow.error, null, `the stream survived both: ${JSON.stringify(flow)}`);
  });
});
