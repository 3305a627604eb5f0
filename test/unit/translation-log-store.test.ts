import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { openReadOnly } from "../../appliance/store/database.js";
import { openTranslationLogStore } from "../../appliance/store/translation-log.js";
import { translationQuerySql } from "../../appliance/store/translation-log/query.js";
import type { AttributedEvent, ConntrackEvent, NoOwner, Owner, SpoolPosition } from "../../appliance/translation-model.js";

let root: string;
let counter = 0;
const stores: { close(): void }[] = [];

before(() => {
  root = mkdtempSync(join(tmpdir(), "egw-translation-log-test-"));
});
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

function freshPath(): string {
  return join(root, `log-${counter++}`, "translations.db");
}

function open(path = freshPath(), bootId = "boot-a", now = () => 9_999_000) {
  const store = openTranslationLogStore(path, { gateway: "gw-1", bootId, now });
  stores.push(store);
  return store;
}

const POS: SpoolPosition = { file: "spool-1", offset: 100 };

type EventFields = Partial<ConntrackEvent> & Partial<Owner | NoOwner>;

/** A test's event: the fields it gives over a default connection (a destroy may come without an owner). */
function event(overrides: EventFields = {}): AttributedEvent {
  return {
    kind: "new", conntrackId: 7, protocol: "tcp", protocolNumber: 6, family: 4,
    podAddress: "10.244.1.5", podPort: 40000, destinationAddress: "93.184.216.34", destinationPort: 443,
    egressAddress: "203.0.113.10", egressPort: 50000, startMs: 1_000, cluster: "prod", mapping: "web",
    ...overrides,
  } as AttributedEvent;
}

const COUNTERS = { originalPackets: 10, originalBytes: 1000, replyPackets: 8, replyBytes: 8000 };

function destroy(overrides: EventFields = {}): AttributedEvent {
  return event({ kind: "destroy", endMs: 5_000, counters: COUNTERS, ...overrides });
}

describe("translation log store: commit", () => {
  it("a new event opens a record; its destroy closes the same record with the kernel's end and counters", () => {
    const store = open();
    const first = store.commit([event()], POS);
    assert.equal(first.opened.length, 1);
    const opened = first.opened[0]!;
    assert.deepEqual({ ...opened, id: 0 }, {
      id: 0, gateway: "gw-1", cluster: "prod", mapping: "web", protocol: "tcp", family: 4,
      podAddress: "10.244.1.5", podPort: 40000, destinationAddress: "93.184.216.34", destinationPort: 443,
      egressAddress: "203.0.113.10", egressPort: 50000, startMs: 1_000, endMs: null, endReason: null, counters: null,
    });
    const second = store.commit([destroy()], { file: "spool-1", offset: 200 });
    assert.deepEqual(second.opened, []);
    assert.deepEqual(second.closed, [{ ...opened, endMs: 5_000, endReason: "kernel", counters: COUNTERS }]);
    const page = store.query({ egressAddress: "203.0.113.10", egressPort: 50000, limit: 10 });
    assert.deepEqual(page.records, second.closed);
    assert.equal(store.openCount(), 0);
  });

  it("a duplicate new event of an open connection creates no second record", () => {
    const store = open();
    store.commit([event()], POS);
    const again = store.commit([event(), event({ startMs: 1_001 })], POS);
    assert.deepEqual(again.opened, []);
    assert.equal(store.query({ podAddress: "10.244.1.5", limit: 10 }).records.length, 1);
  });

  it("the same conntrack id with another tuple, or after its close, is another connection", () => {
    const store = open();
    store.commit([event(), event({ egressPort: 50001 })], POS);
    store.commit([destroy()], POS);
    const reused = store.commit([event({ startMs: 6_000 })], POS);
    assert.equal(reused.opened.length, 1);
    assert.equal(store.query({ podAddress: "10.244.1.5", limit: 10 }).records.length, 3);
  });

  it("a destroy without an open record becomes a whole record", () => {
    const store = open();
    const result = store.commit([destroy({ startMs: 500, endMs: 900 })], POS);
    assert.equal(result.closed.length, 1);
    assert.deepEqual([result.closed[0]?.startMs, result.closed[0]?.endMs, result.closed[0]?.endReason, result.closed[0]?.counters],
      [500, 900, "kernel", COUNTERS]);
    assert.equal(store.openCount(), 0);
  });

  it("a destroy without an end is dated by the store's clock", () => {
    const store = open(freshPath(), "boot-a", () => 7_777);
    store.commit([event()], POS);
    const { closed } = store.commit([destroy({ endMs: undefined })], POS);
    assert.equal(closed[0]?.endMs, 7_777);
  });

  it("stores the spool position with the records; a failed commit leaves both as they were", () => {
    const store = open();
    assert.equal(store.position(), null);
    store.commit([event()], POS);
    assert.deepEqual(store.position(), POS);
    const bad = event({ conntrackId: 8, cluster: "new-cluster", egressAddress: "not-an-address" });
    assert.throws(() => store.commit([event({ conntrackId: 9, cluster: "other" }), destroy(), bad], { file: "spool-2", offset: 5 }),
      /egressAddress/);
    assert.deepEqual(store.position(), POS);
    const records = store.query({ podAddress: "10.244.1.5", limit: 10 }).records;
    assert.deepEqual(records.map((r) => [r.cluster, r.endMs]), [["prod", null]], "nothing of the failed batch is stored");
    assert.equal(store.openCount(), 1, "the open map rolled back too");
    // The connection the failed batch closed is still open, and closes normally now.
    assert.equal(store.commit([destroy()], POS).closed[0]?.endReason, "kernel");
    assert.equal(store.commit([event({ conntrackId: 9, cluster: "other" })], POS).opened[0]?.cluster, "other");
  });

  it("IPv6 addresses and other protocols read back canonical", () => {
    const store = open();
    const { opened } = store.commit([event({
      family: 6, protocol: "other", protocolNumber: 47, podAddress: "FD00:10:244:0:0:0:0:5",
      destinationAddress: "2001:db8::1", egressAddress: "2001:DB8:0:0:1::1",
    })], POS);
    assert.deepEqual([opened[0]?.family, opened[0]?.protocol, opened[0]?.podAddress, opened[0]?.egressAddress],
      [6, "other", "fd00:10:244::5", "2001:db8::1:0:0:1"]);
    const page = store.query({ egressAddress: "2001:db8:0:0:1:0:0:1", protocol: "other", limit: 5 });
    assert.deepEqual(page.records, opened);
    assert.equal(store.query({ egressAddress: "2001:db8:0:0:1:0:0:1", protocol: "tcp", limit: 5 }).records.length, 0);
  });

  it("reopening restores the open connections of this boot", () => {
    const path = freshPath();
    const first = open(path);
    first.commit([event(), event({ conntrackId: 8, egressPort: 50001 })], POS);
    first.commit([destroy({ conntrackId: 8, egressPort: 50001 })], POS);
    first.close();
    const again = open(path);
    assert.equal(again.openCount(), 1);
    assert.deepEqual(again.commit([event()], POS).opened, [], "the duplicate is still recognised");
    const { closed } = again.commit([destroy()], POS);
    assert.equal(closed[0]?.startMs, 1_000, "the destroy closed the stored record");
    assert.equal(again.query({ podAddress: "10.244.1.5", limit: 10 }).records.length, 2);
    assert.deepEqual(again.position(), POS);
  });
});

describe("translation log store: ends without an owner, recovered ends, interrupted logs", () => {
  it("counts destroys that found no open record as recovered", () => {
    const store = open();
    store.commit([event()], POS);
    const result = store.commit([destroy(), destroy({ conntrackId: 8, egressPort: 50001 }), destroy({ conntrackId: 9, egressPort: 50002 })], POS);
    assert.equal(result.closed.length, 3);
    assert.equal(result.recovered, 2, "the two without an open record");
    assert.equal(result.unattributedDropped, 0);
    assert.equal(store.commit([event({ conntrackId: 10 })], POS).recovered, 0);
  });

  it("a destroy no mapping explains closes the open record under the owner it was logged with, else is dropped and counted", () => {
    const store = open();
    const { opened } = store.commit([event({ cluster: "prod", mapping: "web" })], POS);
    const result = store.commit([
      destroy({ cluster: null, mapping: null }),
      destroy({ conntrackId: 8, egressPort: 50001, cluster: null, mapping: null }),
    ], { file: "spool-1", offset: 300 });
    assert.deepEqual(result.closed, [{ ...opened[0], endMs: 5_000, endReason: "kernel", counters: COUNTERS }]);
    assert.deepEqual([result.recovered, result.unattributedDropped], [0, 1]);
    assert.equal(store.openCount(), 0, "the port is no longer shown as held");
    const stored = store.query({ podAddress: "10.244.1.5", limit: 10 }).records;
    assert.deepEqual(stored.map((r) => [r.id, r.cluster, r.mapping, r.endReason]), [[opened[0]?.id, "prod", "web", "kernel"]], "the dropped one left no record");
    assert.deepEqual(store.position(), { file: "spool-1", offset: 300 });
  });

  it("closeOpenRecords closes the given open records as log-interrupted, skips ids not open, and keeps the others open", () => {
    const store = open();
    const { opened } = store.commit([
      event({ conntrackId: 1, egressPort: 50001, startMs: 1_000 }),
      event({ conntrackId: 2, egressPort: 50002, startMs: 2_000 }),
      event({ conntrackId: 3, egressPort: 50003, startMs: 3_000 }),
    ], POS);
    const [a, b, c] = opened;
    assert.ok(a && b && c);
    const closedEarlier = store.commit([destroy({ conntrackId: 3, egressPort: 50003, startMs: 3_000 })], POS).closed[0];
    const closed = store.closeOpenRecords([a.id, c.id, 999], 60_000, "log-interrupted");
    assert.deepEqual(closed, [{ ...a, endMs: 60_000, endReason: "log-interrupted", counters: null }], "c was closed by its destroy already; 999 never existed");
    assert.equal(store.openCount(), 1);
    assert.deepEqual([...store.openRecords()].map((r) => r.id), [b.id]);
    assert.equal(store.longestMs(), 59_000, "the look-back covers the interrupted record's (upper-bound) length");
    const records = store.query({ egressAddress: "203.0.113.10", atMs: 30_000, limit: 10 }).records;
    assert.deepEqual(records.map((r) => [r.id, r.endReason]), [[b.id, null], [a.id, "log-interrupted"]]);
    assert.equal(store.query({ egressAddress: "203.0.113.10", egressPort: 50003, limit: 10 }).records[0]?.endMs, closedEarlier?.endMs);
    assert.deepEqual(store.closeOpenRecords([], 70_000, "log-interrupted"), []);
    // The writer forgot the closed connection: a new event with the same conntrack id and tuple is a new record.
    assert.equal(store.commit([event({ conntrackId: 1, egressPort: 50001, startMs: 61_000 })], POS).opened.length, 1);
  });

  it("openRecords gives what matching against the kernel's conntrack table needs", () => {
    const store = open();
    store.commit([event({ protocol: "udp", protocolNumber: 17, podPort: 5353, destinationPort: 53, egressPort: 61000 })], POS);
    const [record] = [...store.openRecords()];
    assert.deepEqual(record && [record.protocol, record.podAddress, record.podPort, record.destinationAddress, record.destinationPort, record.egressAddress, record.egressPort],
      ["udp", "10.244.1.5", 5353, "93.184.216.34", 53, "203.0.113.10", 61000]);
  });
});

describe("translation log store: earlier boots", () => {
  it("closes records left open by another boot as gateway-restarted, and this boot's stay open", () => {
    const path = freshPath();
    const before = open(path, "boot-a");
    before.commit([event(), event({ conntrackId: 8, egressPort: 50001, startMs: 2_000 })], POS);
    before.close();
    const store = open(path, "boot-b");
    assert.equal(store.openCount(), 0, "another boot's connections are not this kernel's");
    store.commit([event({ conntrackId: 9, egressPort: 50002 })], POS);
    assert.equal(store.closeRecordsOfEarlierBoots("boot-b", 8_000), 2);
    const records = store.query({ podAddress: "10.244.1.5", limit: 10 }).records;
    assert.deepEqual(records.map((r) => [r.egressPort, r.endMs, r.endReason]),
      [[50001, 8_000, "gateway-restarted"], [50002, null, null], [50000, 8_000, "gateway-restarted"]], "newest start first, then newest id");
    assert.equal(store.longestMs(), 7_000, "the look-back covers the longest of them");
    assert.equal(store.closeRecordsOfEarlierBoots("boot-b", 9_000), 0);
    // Same conntrack id and tuple as boot-a's record: a new connection of this boot.
    assert.equal(store.commit([event()], POS).opened.length, 1);
  });
});

describe("translation log store: gaps", () => {
  it("openGap is idempotent while a gap is open; closeGap ends it; queries return the gaps they overlap", () => {
    const store = open();
    store.openGap("not-running", 1_000);
    store.openGap("disk-full", 1_500);
    store.closeGap(2_000);
    store.closeGap(2_500);
    store.openGap("disk-full", 3_000);
    assert.deepEqual(store.query({ podAddress: "10.244.1.5", limit: 1 }).gaps, [
      { gateway: "gw-1", fromMs: 1_000, toMs: 2_000, reason: "not-running" },
      { gateway: "gw-1", fromMs: 3_000, toMs: null, reason: "disk-full" },
    ]);
    assert.deepEqual(store.query({ podAddress: "10.244.1.5", atMs: 1_500, limit: 1 }).gaps.map((g) => g.fromMs), [1_000]);
    assert.deepEqual(store.query({ podAddress: "10.244.1.5", atMs: 2_500, limit: 1 }).gaps, []);
    assert.deepEqual(store.query({ podAddress: "10.244.1.5", fromMs: 2_000, toMs: 99_000, limit: 1 }).gaps.map((g) => g.fromMs), [1_000, 3_000]);
  });
});

describe("translation log store: queries", () => {
  /** Port 50000 used four times over the day, twice at once to different destinations. */
  function seeded(path = freshPath()) {
    const store = open(path);
    store.commit([
      destroy({ conntrackId: 1, startMs: 1_000, endMs: 2_000, destinationPort: 1 }),
      destroy({ conntrackId: 2, startMs: 3_000, endMs: 4_000, destinationPort: 2 }),
      destroy({ conntrackId: 3, startMs: 3_500, endMs: 10_000, destinationPort: 3, cluster: "dev" }),
      event({ conntrackId: 4, startMs: 9_000, destinationPort: 4 }),
    ], POS);
    return store;
  }

  const ports = (page: { records: { destinationPort: number }[] }) => page.records.map((r) => r.destinationPort);
  const at = { egressAddress: "203.0.113.10", egressPort: 50000, limit: 10 };

  it("atMs: start ≤ at and (end ≥ at or open), newest first", () => {
    const store = seeded();
    assert.deepEqual(ports(store.query({ ...at, atMs: 500 })), []);
    assert.deepEqual(ports(store.query({ ...at, atMs: 1_000 })), [1]);
    assert.deepEqual(ports(store.query({ ...at, atMs: 2_000 })), [1]);
    assert.deepEqual(ports(store.query({ ...at, atMs: 2_001 })), []);
    assert.deepEqual(ports(store.query({ ...at, atMs: 3_700 })), [3, 2]);
    assert.deepEqual(ports(store.query({ ...at, atMs: 9_500 })), [4, 3]);
    assert.deepEqual(ports(store.query({ ...at, atMs: 50_000 })), [4]);
  });

  it("range: start ≤ to and (end ≥ from or open)", () => {
    const store = seeded();
    assert.deepEqual(ports(store.query({ ...at, fromMs: 2_000, toMs: 3_000 })), [2, 1]);
    assert.deepEqual(ports(store.query({ ...at, fromMs: 2_001, toMs: 3_499 })), [2]);
    assert.deepEqual(ports(store.query({ ...at, fromMs: 10_001, toMs: 20_000 })), [4]);
    assert.deepEqual(ports(store.query({ ...at, fromMs: 0, toMs: 999 })), []);
    assert.throws(() => store.query({ ...at, fromMs: 5, toMs: 4 }), /fromMs/);
  });

  it("finds a connection open for longer than any closed one (the look-back does not hide it)", () => {
    const store = seeded();
    store.commit([event({ conntrackId: 5, egressPort: 50999, startMs: 10 })], POS);
    assert.equal(store.longestMs(), 6_500);
    assert.deepEqual(ports(store.query({ egressAddress: "203.0.113.10", egressPort: 50999, atMs: 1_000_000, limit: 5 })), [443]);
    assert.deepEqual(ports(store.query({ egressAddress: "203.0.113.10", fromMs: 500_000, toMs: 600_000, limit: 5 })), [4, 443]);
  });

  it("finds connections that began in earlier hours than the instant asked, by egress and by pod", () => {
    const store = open();
    const hour = 3_600_000;
    store.commit([
      destroy({ conntrackId: 1, startMs: 5 * hour - 10_000, endMs: 5 * hour + 60_000, destinationPort: 1 }),
      destroy({ conntrackId: 2, startMs: 1 * hour, endMs: 4 * hour, destinationPort: 2 }),
      destroy({ conntrackId: 3, startMs: 9 * hour, endMs: 9 * hour + 1, destinationPort: 3 }),
    ], POS);
    assert.deepEqual(ports(store.query({ ...at, atMs: 5 * hour + 30_000 })), [1]);
    assert.deepEqual(ports(store.query({ ...at, atMs: 3 * hour + 59 * 60_000 })), [2]);
    assert.deepEqual(ports(store.query({ podAddress: "10.244.1.5", fromMs: 4 * hour, toMs: 9 * hour, limit: 10 })), [3, 1, 2]);
    assert.deepEqual(ports(store.query({ podAddress: "10.244.1.5", limit: 10 })), [3, 1, 2]);
    assert.deepEqual(ports(store.query({ ...at, atMs: 100 * hour })), []);
  });

  it("selectors combine with AND; clusters restrict the view", () => {
    const store = seeded();
    assert.deepEqual(ports(store.query({ ...at, destinationPort: 3 })), [3]);
    assert.deepEqual(ports(store.query({ ...at, destinationPort: 3, protocol: "udp" })), []);
    assert.deepEqual(ports(store.query({ destinationAddress: "93.184.216.34", destinationPort: 2, limit: 5 })), [2]);
    assert.deepEqual(ports(store.query({ ...at, clusters: ["dev"] })), [3]);
    assert.deepEqual(ports(store.query({ ...at, clusters: ["prod"], atMs: 3_700 })), [2]);
    assert.deepEqual(ports(store.query({ ...at, clusters: ["nobody"] })), []);
    assert.deepEqual(ports(store.query({ ...at, clusters: [] })), []);
    assert.deepEqual(ports(store.query({ ...at, podAddress: "10.244.9.9" })), []);
  });

  it("pages newest first with a cursor until the last page", () => {
    const store = seeded();
    const first = store.query({ ...at, limit: 3 });
    assert.deepEqual(ports(first), [4, 3, 2]);
    assert.ok(first.nextCursor !== undefined);
    const second = store.query({ ...at, limit: 3, cursor: first.nextCursor });
    assert.deepEqual(ports(second), [1]);
    assert.equal(second.nextCursor, undefined);
    const exact = store.query({ ...at, limit: 4 });
    assert.equal(exact.nextCursor, undefined, "no cursor when nothing follows");
    const timed = store.query({ ...at, fromMs: 0, toMs: 99_000, limit: 2 });
    assert.deepEqual(ports(timed), [4, 3]);
    assert.deepEqual(ports(store.query({ ...at, fromMs: 0, toMs: 99_000, limit: 2, cursor: timed.nextCursor })), [2, 1]);
  });

  it("pages by (start, id), newest first, when ids are not in start order: none lost, none repeated, open and closed together", () => {
    const store = open();
    // Ids follow first sight; starts do not: a destroy-only record gets a late id and an early start, starts repeat.
    const starts = [5_000, 1_000, 5_000, 9_000, 2_000, 5_000, 8_000, 1_000];
    store.commit(starts.map((startMs, i) => (i % 3 === 0 ? event : destroy)({ conntrackId: i, startMs, endMs: 20_000, destinationPort: i + 1 })), POS);
    const all = store.query({ ...at, fromMs: 0, toMs: 30_000, limit: 100 }).records;
    assert.deepEqual(all.map((r) => [r.startMs, r.id]), [...all].map((r) => [r.startMs, r.id]).sort((x, y) => y[0]! - x[0]! || y[1]! - x[1]!));
    assert.equal(all.length, starts.length);
    for (const window of [{}, { fromMs: 0, toMs: 30_000 }, { atMs: 5_500 }]) {
      const expected = store.query({ ...at, ...window, limit: 100 }).records.map((r) => r.id);
      for (const limit of [1, 2, 3, 5]) {
        const seen: number[] = [];
        let page = store.query({ ...at, ...window, limit });
        seen.push(...page.records.map((r) => r.id));
        while (page.nextCursor !== undefined) {
          page = store.query({ ...at, ...window, limit, cursor: page.nextCursor });
          seen.push(...page.records.map((r) => r.id));
        }
        assert.deepEqual(seen, expected, `${JSON.stringify(window)} limit ${limit}`);
      }
    }
  });

  it("the egress+port+at lookup reads the egress index and the open table's index, never a whole table", () => {
    const path = freshPath();
    seeded(path);
    const { text, params } = translationQuerySql({ ...at, atMs: 3_000 }, 1_000, undefined, 11, { first: 1_000, last: 9_000 });
    const db = openReadOnly(path);
    let plan: string;
    try {
      plan = (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(params) as { detail: string }[]).map((row) => row.detail).join("\n");
    } finally {
      db.close();
    }
    assert.match(plan, /SEARCH translations USING INDEX translations_by_egress \(<expr>=\? AND egress_address=\? AND egress_port=\? AND start_ms>\? AND start_ms<\?\)/);
    assert.match(plan, /SEARCH open_translations USING INDEX open_translations_by_egress \(egress_address=\? AND egress_port=\? AND start_ms<\?\)/);
    assert.doesNotMatch(plan, /SCAN (open_)?translations(?! USING)/);
  });
});

describe("translation log store: pruning", () => {
  it("deletes ended records older than the cutoff, keeps open and recent ones, and old gaps", () => {
    const store = open();
    const events = Array.from({ length: 50 }, (_, i) => destroy({ conntrackId: i, startMs: i * 100, endMs: i * 100 + 50 }));
    store.commit([...events, event({ conntrackId: 999, startMs: 0 })], POS);
    store.openGap("not-running", 10);
    store.closeGap(20);
    store.openGap("not-running", 4_000);
    assert.equal(store.prune({ olderThanMs: 2_000, maxBytes: 1024 ** 3, batch: 7 }), 20);
    const left = store.query({ egressAddress: "203.0.113.10", limit: 100 }).records;
    assert.equal(left.length, 31);
    assert.ok(left.every((r) => r.endMs === null || r.endMs >= 2_000));
    assert.deepEqual(store.query({ egressAddress: "203.0.113.10", limit: 1 }).gaps.map((g) => g.fromMs), [4_000]);
  });

  it("deletes the oldest records, ended first, while the rows take more than maxBytes", () => {
    const store = open();
    const openOne = event({ conntrackId: 1_000_000, startMs: 0, egressPort: 1 });
    store.commit([openOne], POS);
    for (let batch = 0; batch < 10; batch++) {
      store.commit(Array.from({ length: 2_000 }, (_, i) => destroy({ conntrackId: batch * 2_000 + i, egressPort: 1024 + i,
        startMs: 1_000 + batch * 2_000 + i, endMs: 2_000 + batch * 2_000 + i })), POS);
    }
    const before = store.usedBytes();
    const target = Math.floor(before / 2);
    const deleted = store.prune({ olderThanMs: 0, maxBytes: target, batch: 500 });
    assert.ok(deleted > 0 && deleted < 20_000, `deleted ${deleted}`);
    assert.ok(store.usedBytes() <= target);
    const oldestLeft = store.query({ egressAddress: "203.0.113.10", fromMs: 0, toMs: 10 ** 9, limit: 100_000 }).records;
    assert.ok(oldestLeft.some((r) => r.endMs === null), "ended records go before the older open one");
    const survivors = oldestLeft.filter((r) => r.endMs !== null).map((r) => r.startMs);
    assert.equal(Math.min(...survivors), 1_000 + deleted, "the oldest went first");
    assert.ok(store.sizeBytes() >= store.usedBytes());
    // The file keeps its pages for new rows; asking for less than one page's worth deletes everything.
    store.prune({ olderThanMs: 0, maxBytes: 0, batch: 10_000 });
    assert.equal(store.query({ egressAddress: "203.0.113.10", limit: 10 }).records.length, 0);
    // A destroy of a pruned open record becomes a whole record.
    const { closed } = store.commit([{ ...openOne, kind: "destroy", endMs: 99 }], POS);
    assert.deepEqual([closed[0]?.startMs, closed[0]?.endMs], [0, 99]);
  });
});
