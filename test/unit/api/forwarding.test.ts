import assert from "node:assert/strict";
import { request } from "node:http";
import type { Server } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { createPeerApp } from "../../../api/peer-app.js";
import { listenApi } from "../../../appliance/http/servers.js";
import { exportSnapshot, importSnapshot } from "../../../appliance/replication/log.js";
import { FORWARDED_PRINCIPAL_HEADER, PeerClient } from "../../../appliance/replication/peer-client.js";
import type { PeerRequest, PeerResponse, PeerTransport } from "../../../appliance/replication/peer-transport.js";
import { PROTOCOL_ACCEPTS_HEADER, PROTOCOL_HEADER } from "../../../appliance/replication/protocol.js";
import { erp, expectProblem, expectStatus, Harness, tenants, type Tenants } from "./harness.js";
import { fakeLeader, installHa } from "./ha-deps.js";
import { hostCommandsAndFiles } from "../../../appliance/system/system.js";
import type { TranslationQuery, TranslationRecord } from "../../../appliance/translation-model.js";

type LogLine = { level: number; msg: string; [key: string]: unknown };

/**
 * Two gateways in one process: the leader (gw-a) with its peer app, and a backup (gw-b) whose client for
 * the leader talks to that peer app directly instead of over mutual TLS. Every request the backup sends
 * is recorded as it would cross the wire.
 */
class Pair {
  readonly sent: { method: string; path: string; headers: Record<string, string> }[] = [];
  readonly leaderLog: LogLine[] = [];
  readonly backup = new Harness();
  readonly peerApp;
  /** The backup's client for the leader (gw-a), over the leader's peer app. */
  readonly client: PeerClient;

  constructor(readonly tenants: Tenants) {
    const leader = tenants.h;
    fakeLeader(leader, () => "confirmed");
    leader.deps.log = pino({ level: "debug" }, { write: (line: string) => this.leaderLog.push(JSON.parse(line) as LogLine) });
    this.peerApp = createPeerApp(leader.deps, leader.app, { bodyLimitBytes: 1 << 20, peerName: "gw-b" });
    // The backup holds the replicated store (cluster tokens included).
    this.backup.db.transaction(() => importSnapshot(this.backup.db, JSON.parse(JSON.stringify(exportSnapshot(leader.db)))))();
    const transport = {
      peer: { name: "gw-a", address: "192.168.255.1", port: 7443 },
      request: async (method: string, path: string, options: PeerRequest): Promise<PeerResponse> => {
        this.sent.push({ method, path, headers: { ...options.headers } });
        const answer = await this.peerApp.fetch(new Request(`https://192.168.255.1:7443${path}`, {
          method, headers: options.headers, body: options.body === undefined ? undefined : new Uint8Array(Buffer.from(options.body)),
        }));
        return { status: answer.status, headers: Object.fromEntries(answer.headers), body: Buffer.from(await answer.arrayBuffer()) };
      },
    } as unknown as PeerTransport;
    const client = new PeerClient(transport, 1_000, 1 << 20);
    this.client = client;
    installHa(this.backup, { isLeader: () => false, peers: () => [client], leader: () => client, probeLeader: async () => ({ leader: client }) });
  }

  get leader(): Harness {
    return this.tenants.h;
  }
}

describe("writes a backup forwards to the leader", () => {
  let pair: Pair;

  beforeEach(async () => {
    pair = new Pair(await tenants());
  });

  it("carry the principal the backup authenticated, never the client's token; the leader audits the real identity", async () => {
    const { alpha } = pair.tenants;
    const before = pair.backup.snapshot();
    const response = await pair.backup.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp());
    await expectStatus(response, 201);
    assert.equal(response.headers.get("Egw-Forwarded-To"), "gw-a");
    assert.equal(pair.sent.length, 1);
    const [sent] = pair.sent;
    assert.equal(sent?.path, "/internal/v1/forward/v1/clusters/alpha/mappings");
    assert.deepEqual(Object.keys(sent?.headers ?? {}).sort(), ["content-type", FORWARDED_PRINCIPAL_HEADER, PROTOCOL_HEADER, PROTOCOL_ACCEPTS_HEADER, "x-request-id"].sort(), "no Authorization, nothing hop-by-hop");
    // The id the backup gave the request (the client sent none) is the one the leader audits and the client reads.
    const requestId = response.headers.get("X-Request-Id");
    assert.match(requestId ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(sent?.headers["x-request-id"], requestId);
    assert.equal(pair.leader.audit().at(-1)?.request_id, requestId);
    assert.deepEqual(JSON.parse(sent?.headers[FORWARDED_PRINCIPAL_HEADER] ?? ""), { kind: "cluster", cluster: "alpha", tokenId: alpha.id });
    assert.equal(pair.leader.audit().at(-1)?.actor, `cluster:alpha/token:${alpha.id}`);
    assert.deepEqual(pair.backup.snapshot(), before, "the backup stores nothing itself");
  });

  it("work with the backup's own admin token: the admin token need not be the same on both gateways", async () => {
    pair.backup.deps.adminTokens = [{ name: "admin", token: "another-admin-token-0123456789abcdef0123" }];
    const response = await pair.backup.call("POST", "/v1/egress-ips", { token: "another-admin-token-0123456789abcdef0123", body: { address: "203.0.113.77" } });
    await expectStatus(response, 201);
    assert.equal(pair.leader.audit().at(-1)?.actor, "admin");
    await expectProblem(await pair.backup.admin("POST", "/v1/egress-ips", { address: "203.0.113.78" }), 401, "unauthorized");
    assert.equal(pair.sent.length, 1, "a token the backup does not accept is never forwarded");
  });

  it("are refused by the leader when the principal is no longer valid there (a revocation the backup has not seen yet)", async () => {
    const { alpha } = pair.tenants;
    await expectStatus(await pair.leader.admin("DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`), 200);
    const before = pair.leader.snapshot();
    const problem = await expectProblem(await pair.backup.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp()), 401, "unauthorized");
    assert.match(problem.detail, /not valid on the leader: token .* was revoked/);
    assert.deepEqual(pair.leader.snapshot(), before);
  });

  it("strip hop-by-hop and unknown headers", async () => {
    const { alpha } = pair.tenants;
    await expectStatus(await pair.backup.call("POST", "/v1/clusters/alpha/mappings", {
      token: alpha.token, body: erp(),
      headers: { connection: "x-secret", "x-secret": "1", "keep-alive": "timeout=5", "proxy-authorization": "Basic eA==", accept: "application/json" },
    }), 201);
    assert.deepEqual(Object.keys(pair.sent[0]?.headers ?? {}).sort(), ["accept", "content-type", FORWARDED_PRINCIPAL_HEADER, PROTOCOL_HEADER, PROTOCOL_ACCEPTS_HEADER, "x-request-id"].sort());
  });

  it("keep their If-Match: the leader checks it, refuses a stale one with 412 and changes nothing, takes the current one", async () => {
    const { alpha } = pair.tenants;
    // The backup's own quota defaults differ from the leader's: the cluster's tag does not depend on them.
    pair.backup.deps.clusterQuotaDefaults = { ...pair.backup.deps.clusterQuotaDefaults, mappings: 3 };
    const read = await pair.backup.admin("GET", "/v1/clusters/alpha");
    const cluster = await expectStatus(read.clone(), 200);
    const tag = read.headers.get("ETag") as string;
    const grants = { description: "changed through the backup", sourceRanges: cluster.sourceRanges, egressIps: cluster.egressIps, excludableDestinations: cluster.excludableDestinations, quotas: cluster.quotas };
    const revision = pair.leader.deps.store.revision();
    const put = await pair.backup.admin("PUT", "/v1/clusters/alpha", grants, { "If-Match": tag });
    await expectStatus(put, 200);
    assert.equal(pair.sent.at(-1)?.headers["if-match"], tag);
    assert.ok(pair.leader.deps.store.revision() > revision);
    // The same tag again is stale now: refused by the leader, which changes nothing.
    const stale = await pair.leader.unchanged(() => pair.backup.admin("PUT", "/v1/clusters/alpha", { ...grants, description: "lost update" }, { "If-Match": tag }));
    await expectProblem(stale, 412, "precondition-failed", "If-Match");
    assert.equal(stale.headers.get("ETag"), put.headers.get("ETag"));
    // A cluster token's write of a mapping set, the same way.
    const mappingsTag = (await pair.leader.admin("GET", "/v1/clusters/alpha/mappings")).headers.get("ETag") as string;
    await expectProblem(await pair.leader.unchanged(() => pair.backup.call("PUT", "/v1/clusters/alpha/mappings", { token: alpha.token, body: { mappings: [erp()] }, headers: { "If-Match": '"stale"' } })), 412, "precondition-failed");
    await expectStatus(await pair.backup.call("PUT", "/v1/clusters/alpha/mappings", { token: alpha.token, body: { mappings: [erp()] }, headers: { "If-Match": mappingsTag } }), 200);
    assert.equal(pair.leader.audit().at(-1)?.resource, "clusters/alpha/mappings");
  });

  it("with a chunked body (no Content-Length) sent to the backup over real HTTP work", async () => {
    const dir = mkdtempSync(join(tmpdir(), "egw-fwd-"));
    const socket = join(dir, "api.sock");
    let server: Server | undefined;
    try {
      server = await listenApi(pair.backup.app.fetch, `unix:${socket}`, undefined, hostCommandsAndFiles().files);
      const body = JSON.stringify(erp());
      const answer = await new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
        const req = request({ socketPath: socket, method: "POST", path: "/v1/clusters/alpha/mappings", headers: {
          authorization: `Bearer ${pair.tenants.alpha.token}`, "content-type": "application/json",
        } }, (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        });
        req.on("error", reject);
        // Two writes without a Content-Length: Node sends Transfer-Encoding: chunked.
        req.write(body.slice(0, 10));
        setImmediate(() => req.end(body.slice(10)));
      });
      assert.equal(answer.status, 201, answer.text);
      assert.equal(answer.headers["egw-forwarded-to"], "gw-a");
      assert.equal(pair.leader.audit().at(-1)?.resource, "clusters/alpha/mappings/erp");
      assert.equal(pair.sent[0]?.headers["transfer-encoding"], undefined);
    } finally {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the forwarded principal", () => {
  let pair: Pair;

  beforeEach(async () => {
    pair = new Pair(await tenants());
  });

  afterEach(() => {
    pair.leader.deps.ha = undefined;
  });

  const forward = async (principal: string | undefined) => pair.peerApp.request("/internal/v1/forward/v1/egress-ips", {
    method: "POST",
    headers: { "content-type": "application/json", ...(principal === undefined ? {} : { [FORWARDED_PRINCIPAL_HEADER]: principal }) },
    body: JSON.stringify({ address: "203.0.113.99" }),
  });

  it("is read only from the peer app: a client sending the header to a public listener gains nothing", async () => {
    const response = await pair.leader.unchanged(() => pair.leader.raw("/v1/egress-ips", {
      method: "POST",
      headers: { "content-type": "application/json", [FORWARDED_PRINCIPAL_HEADER]: JSON.stringify({ kind: "admin" }) },
      body: JSON.stringify({ address: "203.0.113.99" }),
    }));
    await expectProblem(response, 401, "unauthorized");
  });

  for (const [what, header] of [
    ["missing", undefined],
    ["not JSON", "admin"],
    ["of an unknown kind", JSON.stringify({ kind: "root" })],
    ["a cluster token that does not exist", JSON.stringify({ kind: "cluster", cluster: "alpha", tokenId: "ffffffffffff" })],
    ["a token of another cluster", JSON.stringify({ kind: "cluster", cluster: "beta", tokenId: "{alpha}" })],
  ] as const) {
    it(`is refused when ${what}, and the refusal is logged with the peer's name`, async () => {
      const value = header?.replace("{alpha}", pair.tenants.alpha.id);
      const response = await pair.leader.unchanged(() => forward(value));
      await expectProblem(response, 401, "unauthorized");
      assert.ok(pair.leaderLog.some((l) => l.level === 40 && l["peer"] === "gw-b"), JSON.stringify(pair.leaderLog));
    });
  }

  it("of a valid admin is accepted by the leader, and audited under its name", async () => {
    await expectStatus(await forward(JSON.stringify({ kind: "admin", name: "alice" })), 201);
    assert.equal(pair.leader.audit().at(-1)?.actor, "admin:alice");
  });

  it("of an admin name the leader does not have is refused (a token removed there no longer acts)", async () => {
    const response = await pair.leader.unchanged(() => forward(JSON.stringify({ kind: "admin", name: "mallory" })));
    await expectProblem(response, 401, "unauthorized");
  });
});

describe("a reverse lookup asked of the backup", () => {
  it("is answered by the peer as the same cluster token: the other cluster's records there stay hidden", async () => {
    const pair = new Pair(await tenants());
    const at = Date.parse("2026-12-02T12:00:00Z");
    const record = (id: number, cluster: string, egressAddress: string): TranslationRecord => ({
      id, gateway: "gw-a", cluster, mapping: "m", protocol: "tcp", family: 4, podAddress: "10.244.1.5", podPort: 40_000 + id,
      destinationAddress: "198.51.100.7", destinationPort: 443, egressAddress, egressPort: 2_000 + id, startMs: at - id, endMs: null, endReason: null, counters: null,
    });
    const onLeader = [record(1, "alpha", "203.0.113.10"), record(2, "beta", "203.0.113.20")];
    const asked: TranslationQuery[] = [];
    pair.leader.deps.translations = {
      gateway: "gw-a",
      query: async (q) => {
        asked.push(q);
        return { records: onLeader.filter((r) => q.clusters === undefined || q.clusters.includes(r.cluster)), gaps: [] };
      },
    };
    pair.backup.deps.translations = { gateway: "gw-b", query: async () => ({ records: [], gaps: [] }) };
    const response = await pair.backup.call("GET", "/v1/translations?podIp=10.244.1.5&at=2026-12-02T12:00:00Z", { token: pair.tenants.beta.token });
    const body = await expectStatus(response, 200);
    assert.deepEqual(body.unanswered, []);
    assert.deepEqual(body.translations.map((t: { gateway: string; cluster: string }) => `${t.gateway}:${t.cluster}`), ["gw-a:beta"]);
    assert.deepEqual(asked.map((q) => q.clusters), [["beta"]], "the peer itself restricted the question to the token's cluster");
  });
});
