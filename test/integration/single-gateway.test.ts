import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { waitFor } from "../../lab/ha-group.js";
import { leftovers } from "../../lab/leftovers.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;

/**
 * One gateway, end to end, with the real daemon, nft and ip in network namespaces: every assertion is
 * about a real packet's source address as the server saw it, or about the live kernel state.
 */
describe("single gateway end to end", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: GatewayTopology;
  let daemon: DaemonHandle | undefined;

  const seenAs = async (pod: "a" | "b" | "c", family: 4 | 6, timeoutMs = 2_000) => {
    const result = await whoami(topo.pods[pod], family === 4 ? topo.addr.server.v4 : topo.addr.server.v6, 8080, timeoutMs);
    return result.ok ? result.seenAs : `failed:${result.error}`;
  };
  const nftTable = async () => (await topo.gateway.exec("nft", ["-j", "list", "table", "inet", "egress_gateway"])).stdout;
  const eventually = async (check: () => Promise<boolean>, what: string, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}\n--- daemon log ---\n${daemon?.log().slice(-4000)}`);
      await sleep(200);
    }
  };

  before(async () => {
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
    daemon = await startDaemon(topo.gateway);
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
    assert.deepEqual(leftovers(topo?.namespaces ?? [], daemon ? [daemon.dir] : []), [], "the test leaves nothing behind");
  });

  it("registers egress IPs, a cluster, mappings and routes through the API and applies them", async () => {
    const d = daemon as DaemonHandle;
    for (const address of ["203.0.113.10", "203.0.113.11", "2001:db8::10", "2001:db8::11"]) {
      assert.equal((await d.api("POST", "/v1/egress-ips", { address })).status, 201);
    }
    const cluster = await d.api("POST", "/v1/clusters", {
      name: "prod", sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10", "2001:db8::11"],
    });
    assert.equal(cluster.status, 201, JSON.stringify(cluster.body));
    const token = await d.api("POST", "/v1/clusters/prod/tokens", { description: "integration test" });
    assert.equal(token.status, 201);
    const clusterToken = (token.body as { token: string }).token;

    const mappings = await d.api("PUT", "/v1/clusters/prod/mappings?wait=true", {
      mappings: [
        { name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", labels: { namespace: "a" } },
        { name: "app-b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11" },
        { name: "app-a-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" },
        { name: "app-b-v6", sourceCidr: "fd00:10:244:2::/64", egressIp: "2001:db8::11" },
      ],
    }, clusterToken);
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    assert.equal(mappings.headers["egw-applied-revision"], mappings.headers["egw-revision"], "wait=true returned after the apply");

    const routes = await d.api("PUT", "/v1/clusters/prod/routes?wait=true", {
      routes: [{ prefix: "10.244.0.0/16", via: "172.31.0.11" }, { prefix: "fd00:10:244::/48", via: "fd00:172:31::11" }],
    }, clusterToken);
    assert.equal(routes.status, 200, JSON.stringify(routes.body));

    const kernelRoutes = (await topo.gateway.exec("ip", ["route", "show", "proto", "211"])).stdout;
    assert.match(kernelRoutes, /10\.244\.0\.0\/16 via 172\.31\.0\.11 dev inside/);
    const outside = (await topo.gateway.exec("ip", ["-o", "addr", "show", "dev", "outside"])).stdout;
    for (const address of ["203.0.113.10/32", "203.0.113.11/32", "2001:db8::10/128", "2001:db8::11/128"]) assert.ok(outside.includes(address), address);
    const status = await d.api("GET", "/v1/clusters/prod/status", undefined, clusterToken);
    assert.equal(status.status, 200);
    assert.equal((status.body as { gateways: { inSync: boolean }[] }).gateways[0]?.inSync, true);
  });

  it("each pod reaches the server from its mapped egress IP, over IPv4 and IPv6", async () => {
    assert.equal(await seenAs("a", 4), "203.0.113.10");
    assert.equal(await seenAs("b", 4), "203.0.113.11");
    assert.equal(await seenAs("a", 6), "2001:db8::10");
    assert.equal(await seenAs("b", 6), "2001:db8::11");
  });

  it("a pod that no mapping covers is dropped at the gateway, and counted", async () => {
    assert.match(await seenAs("c", 4, 1_500), /^failed:/);
    assert.match(await seenAs("c", 6, 1_500), /^failed:/);
    const postrouting = (await topo.gateway.exec("nft", ["list", "chain", "inet", "egress_gateway", "postrouting"])).stdout;
    const dropped = /counter packets (\d+) bytes \d+ drop comment "egw:unmapped-drop"/.exec(postrouting);
    assert.ok(dropped && Number(dropped[1]) > 0, `the unmapped drop counter counted: ${postrouting}`);
  });

  it("a rejected request changes neither the store nor the data plane", async () => {
    const d = daemon as DaemonHandle;
    const tableBefore = await nftTable();
    const revisionBefore = (await d.api("GET", "/v1/status")).body as { revision: number };
    assert.equal((revisionBefore as { appliedRevision?: number }).appliedRevision, revisionBefore.revision, "the data plane is settled first");
    const overlap = await d.api("POST", "/v1/clusters/prod/mappings?wait=true", { name: "dup", sourceCidr: "10.244.1.0/25", egressIp: "203.0.113.10" });
    assert.equal(overlap.status, 409);
    assert.match((overlap.body as { detail: string }).detail, /overlaps 10\.244\.1\.(0|64)\/26 \(mapping app-(a|b) of cluster prod\)/);
    const foreign = await d.api("POST", "/v1/clusters/prod/mappings", { name: "x", sourceCidr: "10.99.0.0/24", egressIp: "203.0.113.10" });
    assert.equal(foreign.status, 403);
    const after = (await d.api("GET", "/v1/status")).body as { revision: number; appliedRevision: number };
    assert.equal(after.revision, revisionBefore.revision);
    assert.equal(after.appliedRevision, revisionBefore.revision, "nothing was stored, so there is nothing to apply");
    // What the table does (rules, sets, maps), not its live counters.
    assert.deepEqual(withoutLiveValues(await nftTable()), withoutLiveValues(tableBefore));
  });

  it("changing and deleting a mapping takes effect on new connections", async () => {
    const d = daemon as DaemonHandle;
    const current = (await d.api("GET", "/v1/clusters/prod/mappings")).body as { mappings: { name: string; egressIp: string }[] };
    const changed = current.mappings.map((m) => (m.name === "app-a" ? { ...m, egressIp: "203.0.113.11" } : m));
    assert.equal((await d.api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: changed })).status, 200);
    assert.equal(await seenAs("a", 4), "203.0.113.11");
    assert.equal((await d.api("DELETE", "/v1/clusters/prod/mappings/app-b?wait=true")).status, 204);
    assert.match(await seenAs("b", 4, 1_500), /^failed:/);
    assert.equal(await seenAs("b", 6), "2001:db8::11", "the IPv6 mapping of the same app is untouched");
  });

  it("repairs a flushed table and a deleted route by itself", async () => {
    await topo.gateway.exec("nft", ["flush", "table", "inet", "egress_gateway"]);
    await topo.gateway.exec("ip", ["route", "del", "10.244.0.0/16", "proto", "211"]);
    // The monitor notices the flush at once, so the repair may already be done: either way the pod never leaves with its own address.
    assert.match(await seenAs("a", 4, 1_000), /^(failed:|203\.0\.113\.11$)/, "with the table flushed the pod is cut off (fail closed) or already translated again");
    await eventually(async () => (await seenAs("a", 4, 1_000)) === "203.0.113.11", "pod a translated again after the drift repair");
    const kernelRoutes = (await topo.gateway.exec("ip", ["route", "show", "proto", "211"])).stdout;
    assert.match(kernelRoutes, /10\.244\.0\.0\/16 via 172\.31\.0\.11/);
  });

  it("keeps forwarding while the daemon is stopped, and restarts with the same state", async () => {
    const d = daemon as DaemonHandle;
    const mappingsBefore = (await d.api("GET", "/v1/clusters/prod/mappings")).body;
    const revisionBefore = ((await d.api("GET", "/v1/status")).body as { revision: number }).revision;
    await d.stop();
    assert.equal(await seenAs("a", 4), "203.0.113.11", "the data plane stays in force without the daemon");
    assert.equal(await seenAs("a", 6), "2001:db8::10");
    await d.start();
    assert.deepEqual((await d.api("GET", "/v1/clusters/prod/mappings")).body, mappingsBefore);
    const status = (await d.api("GET", "/v1/status")).body as { revision: number; inSync: boolean };
    assert.equal(status.revision, revisionBefore);
    assert.equal(status.inSync, true);
    assert.equal(await seenAs("a", 4), "203.0.113.11");
  });

  it("exposes per-egress-IP traffic counters as metrics, both directions, both families", async () => {
    // One connection each way out and its answers back (a restart above rebuilt the table and its counters).
    assert.equal(await seenAs("a", 4), "203.0.113.11");
    assert.equal(await seenAs("a", 6), "2001:db8::10");
    const metrics = (await (daemon as DaemonHandle).api("GET", "/metrics", undefined, undefined)).body as string;
    for (const address of ["203.0.113.11", "2001:db8::10"]) {
      for (const direction of ["out", "in"]) {
        const line = metrics.split("\n").find((l) => l.startsWith(`egw_egress_ip_packets_total{egress_ip="${address}",direction="${direction}"}`));
        assert.ok(line, `the counter of ${address} ${direction} is exported`);
        assert.ok(Number(line.split(" ").pop()) > 0, line);
      }
    }
  });

  it("exposes build info, the last successful apply, API requests by route pattern and the standard process metrics", async () => {
    const d = daemon as DaemonHandle;
    const answer = await d.api("GET", "/v1/clusters/prod/mappings");
    assert.equal(answer.status, 200);
    const requestId = answer.headers["x-request-id"];
    assert.match(String(requestId), /^[0-9a-f-]{36}$/, "every answer carries its request id");
    const metrics = (await d.api("GET", "/metrics")).body as string;
    const value = (prefix: string) => Number(metrics.split("\n").find((l) => l.startsWith(prefix))?.split(" ").pop());
    assert.ok(value('egw_http_requests_total{route="/v1/clusters/:name/mappings",method="GET",status="200"}') >= 1, "requests counted by pattern, never by path");
    assert.doesNotMatch(metrics, /route="\/v1\/clusters\/prod/);
    assert.ok(value("egw_apply_last_success_timestamp_seconds") > Date.now() / 1000 - 3600);
    assert.match(metrics, /^egw_build_info\{version="[^"]+",node_version="v\d+\.\d+\.\d+"\} 1$/m);
    assert.ok(value("process_cpu_seconds_total") > 0);
    assert.doesNotMatch(metrics, /^egw_process_/m);
    // One log line per request, with the level by name.
    // The log arrives through its own pipe, after the answer: wait for the line, then count.
    const linesOf = () => d.log().split("\n").filter((l) => l.includes(`"requestId":"${String(requestId)}"`));
    await waitFor(async () => linesOf().length > 0, 10_000, "the request's log line").catch(() => undefined);
    const logged = linesOf();
    assert.equal(logged.length, 1, d.log().slice(-2000));
    assert.match(logged[0] ?? "", /"level":"info".*"route":"\/v1\/clusters\/:name\/mappings".*"status":200.*"actor":"admin".*"msg":"request"/);
  });
});

/**
 * An `nft -j list table` listing without what changes by itself: counter values, handles, and the offenders the
 * packet path records in the spoofed_* sets.
 */
function withoutLiveValues(listing: string): unknown {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== "object") return value;
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([key]) => key !== "packets" && key !== "bytes" && key !== "handle")
      .map(([key, inner]) => [key, strip(inner)]);
    const object = Object.fromEntries(entries) as Record<string, unknown>;
    if (typeof object["name"] === "string" && object["name"].startsWith("spoofed_")) delete object["elem"];
    return object;
  };
  return strip(JSON.parse(listing));
}
