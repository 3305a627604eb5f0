import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PeerClient } from "../../../appliance/replication/peer-client.js";
import type { PageCursor, TranslationPage, TranslationQuery, TranslationRecord } from "../../../appliance/translation-model.js";
import { toApiRecord } from "../../../api/routes/translations.js";
import { AppError } from "../../../appliance/errors.js";
import { encodeCursor } from "../../../appliance/translations/federated-page.js";
import { installHa } from "./ha-deps.js";
import { expectProblem, expectStatus, tenants, type Body, type Harness } from "./harness.js";

const T0 = Date.parse("2026-12-02T12:00:00Z");

function record(id: number, overrides: Partial<TranslationRecord> = {}): TranslationRecord {
  return {
    id, gateway: "gw-test", cluster: "alpha", mapping: "erp", protocol: "tcp", family: 4,
    podAddress: "10.244.1.5", podPort: 40000 + id, destinationAddress: "198.51.100.7", destinationPort: 443,
    egressAddress: "203.0.113.10", egressPort: 1024 + id, startMs: T0 + id * 1000, endMs: null, endReason: null, counters: null,
    ...overrides,
  };
}

/** After `cursor` in the store's page order: newest start first, then highest id. */
const after = (r: TranslationRecord, cursor: PageCursor) => r.startMs < cursor.startMs || (r.startMs === cursor.startMs && r.id < cursor.id);

/** A gateway's log as the route sees it: filters like the store does, pages like it by (start, id), newest first. */
class FakeLog {
  readonly queries: TranslationQuery[] = [];
  constructor(readonly gateway: string, readonly records: TranslationRecord[]) {}
  query(q: TranslationQuery): Promise<TranslationPage> {
    this.queries.push(q);
    const matching = this.records
      .filter((r) => (q.egressAddress === undefined || r.egressAddress === q.egressAddress) && (q.egressPort === undefined || r.egressPort === q.egressPort))
      .filter((r) => q.clusters === undefined || q.clusters.includes(r.cluster))
      .filter((r) => q.cursor === undefined || after(r, q.cursor))
      .sort((a, b) => b.startMs - a.startMs || b.id - a.id);
    const page = matching.slice(0, q.limit);
    const last = page.at(-1);
    return Promise.resolve({ records: page, gaps: [], ...(matching.length > q.limit && last ? { nextCursor: { startMs: last.startMs, id: last.id } } : {}) });
  }
}

/** A peer that answers a forwarded lookup the way the peer's own API would (scope=local). */
function peerAnswering(name: string, log: FakeLog, calls: string[]): PeerClient {
  return {
    name,
    forward: async (_method: string, pathAndQuery: string) => {
      calls.push(pathAndQuery);
      const url = new URL(`http://peer${pathAndQuery}`);
      assert.equal(url.searchParams.get("scope"), "local", "the peer is asked for its own log only, so it never asks back");
      const cursorText = url.searchParams.get("cursor");
      const pair = cursorText === null ? undefined : (JSON.parse(Buffer.from(cursorText, "base64url").toString()).g[name] as [number, number]);
      const cursor = pair === undefined ? undefined : { startMs: pair[0], id: pair[1] };
      const page = await log.query({ limit: Number(url.searchParams.get("limit")), ...(cursor === undefined ? {} : { cursor }) });
      const next = page.nextCursor === undefined ? {} : { nextCursor: encodeCursor(new Map([[name, page.nextCursor]])) };
      return new Response(JSON.stringify({ translations: page.records.map(toApiRecord), gaps: [], unanswered: [], ...next }), { status: 200 });
    },
  } as unknown as PeerClient;
}

async function withLog(records: TranslationRecord[]): Promise<{ h: Harness; log: FakeLog; alpha: string; beta: string }> {
  const { h, alpha, beta } = await tenants();
  const log = new FakeLog("gw-test", records);
  h.deps.translations = log;
  return { h, log, alpha: alpha.token, beta: beta.token };
}

describe("GET /v1/translations", () => {
  it("answers (egress IP, port, time) with the pod, cluster and mapping, in the documented shape", async () => {
    const { h, log } = await withLog([record(1), record(2)]);
    const body: Body = await expectStatus(await h.admin("GET", "/v1/translations?egressIp=203.0.113.10&egressPort=1026&at=2026-12-02T12:00:02Z"), 200);
    assert.equal(body.translations.length, 1);
    assert.deepEqual(body.translations[0], {
      gateway: "gw-test", id: 2, cluster: "alpha", mapping: "erp", protocol: "tcp", family: 4,
      pod: { address: "10.244.1.5", port: 40002 }, destination: { address: "198.51.100.7", port: 443 }, egress: { address: "203.0.113.10", port: 1026 },
      start: "2026-12-02T12:00:02.000Z", end: null, endReason: null, counters: null,
    });
    assert.deepEqual(body.unanswered, []);
    const asked = log.queries[0]!;
    assert.equal(asked.atMs, Date.parse("2026-12-02T12:00:02Z"));
    assert.equal(asked.clusters, undefined, "an admin sees every cluster's translations");
  });

  it("canonicalises addresses before asking the log", async () => {
    const { h, log } = await withLog([]);
    await expectStatus(await h.admin("GET", "/v1/translations?egressIp=2001:DB8:0::10&at=2026-12-02T12:00:00%2B01:00"), 200);
    assert.equal(log.queries[0]!.egressAddress, "2001:db8::10");
    assert.equal(log.queries[0]!.atMs, Date.parse("2026-12-02T11:00:00Z"));
  });

  it("gives a cluster token only its own cluster's translations, and 403 for an egress IP it may not use", async () => {
    const { h, log, alpha, beta } = await withLog([record(1), record(2, { cluster: "beta", egressAddress: "203.0.113.20" })]);
    await expectProblem(await h.call("GET", "/v1/translations?egressIp=203.0.113.20&at=2026-12-02T12:00:02Z", { token: alpha }), 403, "forbidden");
    assert.equal(log.queries.length, 0, "a refused question never reaches the log");
    const own: Body = await expectStatus(await h.call("GET", "/v1/translations?podIp=10.244.1.5&from=2026-12-02T11:00:00Z&to=2026-12-02T13:00:00Z", { token: beta }), 200);
    assert.deepEqual(log.queries[0]!.clusters, ["beta"]);
    assert.deepEqual(own.translations.map((r: Body) => r.cluster), ["beta"], "alpha's record with the same pod address is not beta's to see");
  });

  it("refuses malformed questions with 422 naming the field, without asking the log", async () => {
    const { h, log } = await withLog([record(1)]);
    const cases: [string, string][] = [
      ["egressIp=203.0.113.999&at=2026-12-02T12:00:00Z", "egressIp"],
      ["egressIp=203.0.113.10&egressPort=0&at=2026-12-02T12:00:00Z", "egressPort"],
      ["egressIp=203.0.113.10&egressPort=65536&at=2026-12-02T12:00:00Z", "egressPort"],
      ["egressIp=203.0.113.10&egressPort=4x&at=2026-12-02T12:00:00Z", "egressPort"],
      ["egressIp=203.0.113.10&at=2026", "at"],
      ["egressIp=203.0.113.10&at=12/02/2026", "at"],
      ["egressIp=203.0.113.10&at=2026-12-02T12:00:00", "at"],
      ["egressIp=203.0.113.10&from=2026-12-02T12:00:00Z", "to"],
      ["egressIp=203.0.113.10&from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:01Z", "to"],
      ["egressIp=203.0.113.10&from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"],
      ["egressIp=203.0.113.10", "at"],
      ["at=2026-12-02T12:00:00Z", "egressIp"],
      ["egressPort=443&podIp=10.244.1.5&at=2026-12-02T12:00:00Z", "egressPort"],
      ["egressIp=203.0.113.10&at=2026-12-02T12:00:00Z&protocol=gre", "protocol"],
      ["egressIp=203.0.113.10&at=2026-12-02T12:00:00Z&limit=0", "limit"],
      ["egressIp=203.0.113.10&at=2026-12-02T12:00:00Z&cursor=bm90IGEgY3Vyc29y", "cursor"],
    ];
    for (const [query, field] of cases) {
      const problem: Body = await expectProblem(await h.admin("GET", `/v1/translations?${query}`), 422, "validation-failed");
      assert.ok(problem.fields.some((f: { field: string }) => f.field === field), `${query}: expected a problem with field ${field}, got ${JSON.stringify(problem.fields)}`);
    }
    assert.equal(log.queries.length, 0);
  });

  it("says so when this gateway keeps no translation log", async () => {
    const { h } = await tenants();
    await expectProblem(await h.admin("GET", "/v1/translations?egressIp=203.0.113.10&at=2026-12-02T12:00:00Z"), 404, "translation-log-off");
  });

  it("in a pair, one question answers from both gateways, newest first, and pages through both without loss or repeat", async () => {
    const { h, log } = await withLog([1, 3, 5, 7, 9].map((id) => record(id)));
    const peerLog = new FakeLog("gw-peer", [2, 4, 6, 8, 10, 12].map((id) => record(id, { gateway: "gw-peer" })));
    const calls: string[] = [];
    installHa(h, { peers: () => [peerAnswering("gw-peer", peerLog, calls)] });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const body: Body = await expectStatus(await h.admin("GET", `/v1/translations?egressIp=203.0.113.10&from=2026-12-02T11:00:00Z&to=2026-12-02T13:00:00Z&limit=4${cursor ? `&cursor=${cursor}` : ""}`), 200);
      const starts = body.translations.map((r: Body) => Date.parse(r.start));
      assert.deepEqual(starts, [...starts].sort((a, b) => b - a), "newest first across gateways");
      seen.push(...body.translations.map((r: Body) => `${r.gateway}#${r.id}`));
      cursor = body.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    assert.deepEqual(seen, [12, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1].map((id) => `${id % 2 === 0 ? "gw-peer" : "gw-test"}#${id}`));
    assert.ok(calls.length >= 3, "the peer was asked on every page that still needed its records");
    assert.ok(log.queries.length >= 3);
  });

  /** Every page of one question in a pair, following nextCursor; what each page returned, as gateway#id. */
  async function allPages(h: Harness, limit: number): Promise<string[][]> {
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const body: Body = await expectStatus(await h.admin("GET", `/v1/translations?egressIp=203.0.113.10&from=2026-12-02T11:00:00Z&to=2026-12-02T13:00:00Z&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`), 200);
      const order = body.translations.map((r: Body) => [Date.parse(r.start), r.gateway, r.id]);
      assert.deepEqual(order, [...order].sort((a, b) => b[0] - a[0] || a[1].localeCompare(b[1]) || b[2] - a[2]), "newest start first across gateways");
      pages.push(body.translations.map((r: Body) => `${r.gateway}#${r.id}`));
      cursor = body.nextCursor;
    } while (cursor !== undefined && pages.length < 50);
    return pages;
  }

  it("in a pair, pages by start without loss or repeat when ids are not in start order (records from end events, failovers)", async () => {
    // The review's case: A's ids 10, 9, 8 start at 100, 300, 50; B's 5 at 200. By id, page one (A9, B5) would
    // continue A below id 9 and never return A10.
    const at = (seconds: number) => T0 + seconds * 1000;
    const { h } = await withLog([record(10, { startMs: at(100) }), record(9, { startMs: at(300) }), record(8, { startMs: at(50) })]);
    const peerLog = new FakeLog("gw-peer", [record(5, { gateway: "gw-peer", startMs: at(200) })]);
    installHa(h, { peers: () => [peerAnswering("gw-peer", peerLog, [])] });
    assert.deepEqual(await allPages(h, 2), [["gw-test#9", "gw-peer#5"], ["gw-test#10", "gw-test#8"]]);
  });

  it("in a pair, every page size returns each record once, with starts out of id order and equal starts on both gateways", async () => {
    const at = (seconds: number) => T0 + seconds * 1000;
    // Ids given in first-seen order, starts not: late ids with early starts, equal starts within and across gateways.
    const local = [[1, 40], [2, 10], [3, 40], [4, 5], [5, 70], [6, 40], [7, 1], [8, 60], [9, 30]] as const;
    const peer = [[1, 40], [2, 80], [3, 10], [4, 45], [5, 2], [6, 40], [7, 65]] as const;
    const { h } = await withLog(local.map(([id, s]) => record(id, { startMs: at(s) })));
    const peerLog = new FakeLog("gw-peer", peer.map(([id, s]) => record(id, { gateway: "gw-peer", startMs: at(s) })));
    installHa(h, { peers: () => [peerAnswering("gw-peer", peerLog, [])] });
    const expected = [...local.map(([id, s]) => ["gw-test", id, s] as const), ...peer.map(([id, s]) => ["gw-peer", id, s] as const)]
      .sort((a, b) => b[2] - a[2] || a[0].localeCompare(b[0]) || b[1] - a[1]).map(([g, id]) => `${g}#${id}`);
    for (const limit of [1, 2, 3, 4, 5, 7, 16, 17]) {
      const pages = await allPages(h, limit);
      assert.deepEqual(pages.flat(), expected, `limit ${limit}: every record once, in order`);
      assert.ok(pages.every((page) => page.length <= limit && page.length > 0), `limit ${limit}: pages are full-size or the last`);
    }
  });

  it("refuses a cursor that was tampered with (422), and one of the old id-only form", async () => {
    const { h, log } = await withLog([record(1)]);
    const encode = (body: unknown) => Buffer.from(JSON.stringify(body)).toString("base64url");
    const cursors = [
      encode({ v: 2, g: { "gw-test": [T0, 0] } }),
      encode({ v: 2, g: { "gw-test": [T0, 1.5] } }),
      encode({ v: 2, g: { "gw-test": [T0] } }),
      encode({ v: 2, g: { "gw-test": [T0, 3, 4] } }),
      encode({ v: 2, g: { "gw-test": ["x", 3] } }),
      encode({ v: 2, g: { "gw-test": { startMs: T0, id: 3 } } }),
      encode({ v: 1, g: { "gw-test": 3 } }),
      encode({ v: 2, g: null }),
      "%%%",
    ];
    for (const cursor of cursors) {
      await expectProblem(await h.admin("GET", `/v1/translations?egressIp=203.0.113.10&at=2026-12-02T12:00:01Z&cursor=${encodeURIComponent(cursor)}`), 422, "validation-failed");
    }
    assert.equal(log.queries.length, 0);
    const good = encode({ v: 2, g: { "gw-test": [T0 + 5000, 3] } });
    await expectStatus(await h.admin("GET", `/v1/translations?egressIp=203.0.113.10&at=2026-12-02T12:00:01Z&cursor=${good}`), 200);
    assert.deepEqual(log.queries[0]!.cursor, { startMs: T0 + 5000, id: 3 });
  });

  it("passes on the log's refusals: a lookup past its budget (503) and one too many waiting (429 with Retry-After)", async () => {
    const { h, log } = await withLog([record(1)]);
    log.query = () => Promise.reject(new AppError("lookup-too-costly", "the lookup did not finish within 3000 ms and was stopped: narrow the question"));
    const costly: Body = await expectProblem(await h.admin("GET", "/v1/translations?egressIp=203.0.113.10&from=2026-12-02T00:00:00Z&to=2026-12-02T23:00:00Z"), 503, "lookup-too-costly");
    assert.match(costly.detail, /narrow the question/);
    log.query = () => Promise.reject(new AppError("rate-limited", "busy; retry in 3 s", { headers: { "Retry-After": "3" } }));
    const busy = await h.admin("GET", "/v1/translations?egressIp=203.0.113.10&at=2026-12-02T12:00:01Z");
    assert.equal(busy.headers.get("retry-after"), "3");
    await expectProblem(busy, 429, "rate-limited");
  });

  it("names a peer that could not be asked instead of answering as if it had nothing", async () => {
    const { h } = await withLog([record(1)]);
    const down = { name: "gw-peer", forward: async () => { throw new Error("connect ECONNREFUSED"); } } as unknown as PeerClient;
    installHa(h, { peers: () => [down] });
    const body: Body = await expectStatus(await h.admin("GET", "/v1/translations?egressIp=203.0.113.10&at=2026-12-02T12:00:01Z"), 200);
    assert.equal(body.translations.length, 1);
    assert.deepEqual(body.unanswered.map((u: Body) => u.gateway), ["gw-peer"]);
    assert.match(body.unanswered[0].reason, /ECONNREFUSED/);
    assert.ok(body.nextCursor, "the next page asks the unanswered peer again");
  });
});
