import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { leftovers } from "../../lab/leftovers.js";
import { ADDR, buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** One API call over the daemon's unix socket, with the request headers HTTP semantics need (If-Match, merge patch). */
function call(d: DaemonHandle, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({
      socketPath: d.socket, method, path,
      headers: {
        authorization: `Bearer ${d.adminToken}`,
        ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) }),
        ...headers,
      },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) as unknown : undefined }));
    });
    req.on("error", reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(payload);
  });
}

/**
 * HTTP semantics against the real daemon, nft and real packets: two writers with the same If-Match (one
 * wins), and a PATCH of a mapping's egress IP while a pod keeps opening connections (each one leaves with
 * the old or the new egress IP, none fails: the mapping is replaced in one nft transaction).
 */
describe("HTTP semantics end to end", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: GatewayTopology;
  let daemon: DaemonHandle | undefined;
  const seenAs = async () => {
    const result = await whoami(topo.pods.a, ADDR.server.v4, 8080, 2_000);
    return result.ok ? `ok:${result.seenAs}` : `failed:${result.error}`;
  };

  before(async () => {
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
    daemon = await startDaemon(topo.gateway);
    const d = daemon;
    for (const address of ["203.0.113.10", "203.0.113.11", "203.0.113.12"]) {
      assert.equal((await call(d, "POST", "/v1/egress-ips", { address })).status, 201);
    }
    const cluster = await call(d, "POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10", "203.0.113.11", "203.0.113.12"] });
    assert.equal(cluster.status, 201, JSON.stringify(cluster.body));
    assert.equal(cluster.headers.location, "/v1/clusters/prod");
    const routes = await call(d, "PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.0.0/16", via: "172.31.0.11" }] });
    assert.equal(routes.status, 200, JSON.stringify(routes.body));
    const created = await call(d, "PUT", "/v1/clusters/prod/mappings/app-a?wait=true", { sourceCidr: ADDR.pods.a.cidr4, egressIp: "203.0.113.10" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.location, "/v1/clusters/prod/mappings/app-a");
    assert.equal(await seenAs(), "ok:203.0.113.10");
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
    assert.deepEqual(leftovers(topo?.namespaces ?? [], daemon ? [daemon.dir] : []), [], "the test leaves nothing behind");
  });

  it("lets exactly one of two writers with the same If-Match win; the other gets 412, and the store and the data plane hold the winner's", async () => {
    const d = daemon as DaemonHandle;
    const read = await call(d, "GET", "/v1/clusters/prod/mappings/app-a");
    const etag = read.headers.etag as string;
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
    const [first, second] = await Promise.all(["203.0.113.11", "203.0.113.12"].map((egressIp) =>
      call(d, "PUT", "/v1/clusters/prod/mappings/app-a?wait=true", { sourceCidr: ADDR.pods.a.cidr4, egressIp }, { "If-Match": etag })));
    const answers = [first, second] as Answer[];
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 412], JSON.stringify(answers.map((a) => a.body)));
    const winner = answers.find((a) => a.status === 200) as Answer;
    const loser = answers.find((a) => a.status === 412) as Answer;
    assert.equal((loser.body as { code: string }).code, "precondition-failed");
    assert.equal(loser.headers.etag, winner.headers.etag, "the 412 names the winner's ETag");
    const stored = await call(d, "GET", "/v1/clusters/prod/mappings/app-a");
    assert.deepEqual(stored.body, winner.body);
    assert.equal(stored.headers.etag, winner.headers.etag);
    assert.equal(await seenAs(), `ok:${(winner.body as { egressIp: string }).egressIp}`);
  });

  it("a PATCH of the egress IP while the pod keeps connecting: every connection leaves with the old or the new egress IP, none fails", async () => {
    const d = daemon as DaemonHandle;
    const start = (await call(d, "GET", "/v1/clusters/prod/mappings/app-a")).body as { egressIp: string };
    let probing = true;
    const results: string[] = [];
    let proberFailure: unknown;
    const prober = (async () => {
      while (probing) results.push(await seenAs());
    })().catch((error: unknown) => { proberFailure = error ?? new Error("the prober failed"); });
    const sequence = ["203.0.113.10", "203.0.113.11", "203.0.113.12", "203.0.113.10", "203.0.113.11", "203.0.113.12"].filter((ip, i) => i > 0 || ip !== start.egressIp);
    // Per change: how many connections had finished when it was sent and when it was answered.
    const changes: { sent: number; at: number; egressIp: string }[] = [];
    try {
      for (const egressIp of sequence) {
        const sent = results.length;
        const patched = await call(d, "PATCH", "/v1/clusters/prod/mappings/app-a?wait=true", { egressIp }, { "content-type": "application/merge-patch+json" });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        assert.equal(patched.headers["egw-applied-revision"], patched.headers["egw-revision"], "wait=true answered after the apply");
        changes.push({ sent, at: results.length, egressIp });
        // Let some connections run on this egress IP before the next change. Sleeps between looks: the prober
        // waits on subprocesses, which need the CPU a spinning loop would take.
        const seen = results.length;
        const deadline = Date.now() + 30_000;
        while (results.length < seen + 3) {
          if (proberFailure !== undefined) throw proberFailure;
          assert.ok(Date.now() < deadline, `the prober made ${results.length - seen} connections in 30 s after the change to ${egressIp}`);
          await sleep(50);
        }
      }
    } finally {
      probing = false;
      await prober;
    }
    if (proberFailure !== undefined) throw proberFailure;
    const allowed = new Set(["ok:203.0.113.10", "ok:203.0.113.11", "ok:203.0.113.12"]);
    assert.deepEqual(results.filter((r) => !allowed.has(r)), [], "no connection failed or left untranslated");
    assert.ok(results.length >= sequence.length * 3, `the prober ran during the changes (${results.length} connections)`);
    // After each applied change, the connections that started later left with its egress IP.
    for (const [i, change] of changes.entries()) {
      // Until the next change was sent: a connection made while it was applied may already leave with its IP.
      const until = changes[i + 1]?.sent ?? results.length;
      const later = results.slice(change.at + 1, until);
      assert.ok(later.length > 0 && later.every((r) => r === `ok:${change.egressIp}`), `after the change to ${change.egressIp}: ${later.join(", ")}`);
    }
  });
});
