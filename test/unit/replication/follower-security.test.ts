import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { AppError } from "../../../appliance/errors.js";
import { Follower } from "../../../appliance/replication/follower.js";
import {
  changesSince, epochOfRevision, exportSnapshot, position, replicationState, setReplicationState, type RevisionChanges, type Snapshot,
} from "../../../appliance/replication/log.js";
import { createCluster } from "../../../appliance/service/clusters.js";
import { createEgressIp, updateEgressIp } from "../../../appliance/service/egress-ips.js";
import { issueToken, revokeToken } from "../../../appliance/service/tokens.js";
import type { Store } from "../../../appliance/store/store.js";
import { dumpReplicated, followerContext, mustWrite, openStore, OWN, overTheWire, revisionEpochRows, runWorkload } from "./replication-helpers.js";

const EPOCH = 300;

type LogLine = { level: number; msg: string; [key: string]: unknown };

/** A pino logger whose lines the test can read. */
function capturedLog() {
  const lines: LogLine[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { log, lines };
}

function refusedWith(code: string, status: number, rule?: string) {
  return (error: unknown) => {
    assert.ok(error instanceof AppError, `an AppError, not ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status);
    if (rule) assert.equal(error.extra["rule"], rule, error.message);
    return true;
  };
}

describe("Follower: replicated data is checked like an API write, and replays are refused", () => {
  let leader: Store;
  let store: Store;
  let follower: Follower;
  let lines: LogLine[];
  let committed: number[];

  beforeEach(() => {
    leader = openStore();
    setReplicationState(leader.db, EPOCH, "gw-a");
    store = openStore();
    const captured = capturedLog();
    lines = captured.lines;
    follower = new Follower(store, followerContext("gw-b", "gw-a"), captured.log);
    committed = [];
    store.on("committed", (revision) => committed.push(revision));
  });

  const everything = () => ({ tables: dumpReplicated(store.db), position: position(store.db), epochs: revisionEpochRows(store.db), state: replicationState(store.db) });
  const sync = () => follower.acceptSnapshot(overTheWire({ epoch: EPOCH, leader: "gw-a", snapshot: exportSnapshot(leader.db) }));
  const errors = () => lines.filter((l) => l.level >= 50);
  const warnings = () => lines.filter((l) => l.level === 40);

  /** The leader's store plus a forged cluster "evil" that holds prod's egress IP 203.0.113.10 and a token hash of the attacker's choice. */
  function forgedSnapshot(): Snapshot {
    const snapshot = overTheWire(exportSnapshot(leader.db));
    const at = new Date().toISOString();
    snapshot.tables["clusters"]!.push({
      name: "evil", description: "", excludable_destinations: "[]", quota_mappings: null, quota_routes: null, quota_destinations: null, created_at: at, updated_at: at,
    });
    snapshot.tables["cluster_source_ranges"]!.push({ cluster: "evil", cidr: "10.99.0.0/16", family: 4, range_start: "0A630000", range_end: "0A63FFFF" });
    const grant = snapshot.tables["cluster_egress_ips"]!.find((g) => g["address"] === "203.0.113.10")!;
    grant["cluster"] = "evil";
    snapshot.tables["tokens"]!.push({ id: "0123456789ab", cluster: "evil", description: "", hash: randomBytes(32).toString("hex").toUpperCase(), created_at: at, revoked_at: null });
    return snapshot;
  }

  it("refuses a forged snapshot that hands another tenant's egress IP to a new cluster: nothing applied, logged at error with the leader's name", () => {
    runWorkload(leader);
    sync();
    const before = everything();
    committed.length = 0;
    assert.throws(() => follower.acceptSnapshot({ epoch: EPOCH, leader: "gw-a", snapshot: forgedSnapshot() }), (error: unknown) => {
      refusedWith("replication-refused", 422, "mapping-valid")(error);
      assert.match((error as AppError).message, /egress IP 203\.0\.113\.10 is not one cluster prod may use/);
      return true;
    });
    assert.deepEqual(everything(), before, "the store is exactly as it was");
    assert.deepEqual(committed, [], "nothing reaches the data plane");
    const logged = errors().find((l) => l.msg.startsWith("refused a replication message"));
    assert.ok(logged, `logged at error: ${JSON.stringify(lines)}`);
    assert.equal(logged["leader"], "gw-a");
    assert.equal(logged["peer"], "gw-a");
    assert.equal(logged["rule"], "mapping-valid");
    assert.deepEqual(logged["key"], { cluster: "prod", name: "b" });
  });

  it("refuses forged changes (a mapping moved to another tenant's egress IP), in one piece", () => {
    mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.20" }, OWN));
    mustWrite(leader, (tx) => createCluster(tx, { name: "other", sourceRanges: ["10.250.0.0/16"], egressIps: ["203.0.113.20"] }));
    runWorkload(leader);
    sync();
    const before = everything();
    const base = position(store.db);
    const at = new Date().toISOString();
    const revisions: RevisionChanges[] = [
      { revision: base.revision + 1, epoch: EPOCH, entries: [{ tbl: "egress_ips", op: "upsert", pk: { address: "203.0.113.30" }, row: { address: "203.0.113.30", family: 4, description: "innocent", created_at: at, updated_at: at } }] },
      { revision: base.revision + 2, epoch: EPOCH, entries: [{ tbl: "mappings", op: "upsert", pk: { cluster: "other", name: "steal" }, row: {
        cluster: "other", name: "steal", source_cidr: "10.250.1.0/24", family: 4, range_start: "0AFA0100", range_end: "0AFA01FF", egress_ip: "203.0.113.10",
        destinations: "[]", excluded_destinations: "[]", labels: "{}", created_at: at, updated_at: at,
      } }] },
    ];
    assert.throws(() => follower.acceptChanges({ epoch: EPOCH, leader: "gw-a", base, revisions }), refusedWith("replication-refused", 422, "mapping-valid"));
    assert.deepEqual(everything(), before, "the first, harmless revision is rolled back with the second");
    assert.deepEqual(committed.filter((r) => r > base.revision), []);
  });

  it("refuses a row the schema itself rejects (a mapping of a cluster that does not exist) as replication-refused, not a 500", () => {
    const base = position(store.db);
    const at = new Date().toISOString();
    const revisions: RevisionChanges[] = [{ revision: 1, epoch: EPOCH, entries: [{ tbl: "tokens", op: "upsert", pk: { id: "0123456789ab" }, row: {
      id: "0123456789ab", cluster: "ghost", description: "", hash: "00".repeat(32), created_at: at, revoked_at: null,
    } }] }];
    assert.throws(() => follower.acceptChanges({ epoch: EPOCH, leader: "gw-a", base, revisions }), refusedWith("replication-refused", 422, "store-constraint"));
    assert.equal(store.revision(), 0);
  });

  it("refuses a snapshot that grants one egress IP to two clusters (the schema's key makes it a store-constraint refusal)", () => {
    runWorkload(leader);
    mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.20" }, OWN));
    mustWrite(leader, (tx) => createCluster(tx, { name: "other", sourceRanges: ["10.250.0.0/16"], egressIps: ["203.0.113.20"] }));
    const snapshot = overTheWire(exportSnapshot(leader.db));
    snapshot.tables["cluster_egress_ips"]!.push({ address: "203.0.113.10", cluster: "other" });
    assert.throws(() => follower.acceptSnapshot({ epoch: EPOCH, leader: "gw-a", snapshot }), refusedWith("replication-refused", 422, "store-constraint"));
    assert.equal(store.revision(), 0);
  });

  describe("the message's own shape", () => {
    const base = { revision: 0, revisionEpoch: 0 };
    const at = "2026-12-02T10:00:00.000Z";
    const ipRow = (address: string) => ({ address, family: 4, description: "", created_at: at, updated_at: at });
    const cases: [string, unknown, string][] = [
      ["a revision epoch newer than the message's", { epoch: EPOCH, leader: "gw-a", base, revisions: [{ revision: 1, epoch: EPOCH + 1, entries: [] }] }, "message-epochs"],
      ["revisions that skip one", { epoch: EPOCH, leader: "gw-a", base, revisions: [{ revision: 2, epoch: EPOCH, entries: [] }] }, "message-revisions-consecutive"],
      ["revisions out of order", { epoch: EPOCH, leader: "gw-a", base, revisions: [{ revision: 1, epoch: EPOCH, entries: [] }, { revision: 1, epoch: EPOCH, entries: [] }] }, "message-revisions-consecutive"],
      ["an unknown table", { epoch: EPOCH, leader: "gw-a", base, revisions: [{ revision: 1, epoch: EPOCH, entries: [{ tbl: "sqlite_master", op: "upsert", pk: { name: "x" }, row: { name: "x" } }] }] }, "message-tables"],
      ["an unknown column", { epoch: EPOCH, leader: "gw-a", base, revisions: [{ revision: 1, epoch: EPOCH, entries: [{ tbl: "egress_ips", op: "upsert", pk: { address: "203.0.113.30" }, row: { ...ipRow("203.0.113.30"), owner: "evil" } }] }] }, "message-columns"],
      ["a missing column", { epoch: EPOCH, leader: "gw-a", base, revisions: [{ revision: 1, epoch: EPOCH, entries: [{ tbl: "egress_ips", op: "upsert", pk: { address: "203.0.113.30" }, row: { address: "203.0.113.30", family: 4 } }] }] }, "message-columns"],
      ["a row whose key differs from its primary key", { epoch: EPOCH, leader: "gw-a", base, revisions: [{ revision: 1, epoch: EPOCH, entries: [{ tbl: "egress_ips", op: "upsert", pk: { address: "203.0.113.31" }, row: ipRow("203.0.113.30") }] }] }, "message-columns"],
      ["a BLOB that is not hex", { epoch: EPOCH, leader: "gw-a", base, revisions: [{ revision: 1, epoch: EPOCH, entries: [{ tbl: "tokens", op: "upsert", pk: { id: "0123456789ab" }, row: { id: "0123456789ab", cluster: "prod", description: "", hash: "zz", created_at: at, revoked_at: null } }] }] }, "message-columns"],
      ["a leader other than the authenticated peer", { epoch: EPOCH, leader: "gw-c", base, revisions: [] }, "message-sender"],
      ["a malformed body", { epoch: "300", leader: "gw-a", base, revisions: [] }, "message-shape"],
      ["unexpected members", { epoch: EPOCH, leader: "gw-a", base, revisions: [], extra: true }, "message-shape"],
    ];
    for (const [what, body, rule] of cases) {
      it(`refuses changes with ${what} (${rule})`, () => {
        const before = everything();
        assert.throws(() => follower.acceptChanges(body), refusedWith("replication-refused", 422, rule));
        assert.deepEqual(everything(), before);
      });
    }

    it("refuses a snapshot whose revision claims a newer epoch than the message, or that lacks or adds a table", () => {
      runWorkload(leader);
      const good = overTheWire(exportSnapshot(leader.db));
      assert.throws(() => follower.acceptSnapshot({ epoch: EPOCH, leader: "gw-a", snapshot: { ...good, revisionEpoch: EPOCH + 1 } }), refusedWith("replication-refused", 422, "message-epochs"));
      const { routes: _routes, ...withoutRoutes } = good.tables;
      assert.throws(() => follower.acceptSnapshot({ epoch: EPOCH, leader: "gw-a", snapshot: { ...good, tables: withoutRoutes } }), refusedWith("replication-refused", 422, "message-tables"));
      assert.throws(() => follower.acceptSnapshot({ epoch: EPOCH, leader: "gw-a", snapshot: { ...good, tables: { ...good.tables, owned_addresses: [] } } }), refusedWith("replication-refused", 422, "message-tables"));
      assert.equal(store.revision(), 0);
    });
  });

  describe("replay and stale epochs", () => {
    it("refuses a replayed changes message (same peer, same epoch) and logs it at warn", () => {
      mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      const first = overTheWire({ epoch: EPOCH, leader: "gw-a", base: position(store.db), revisions: changesSince(leader.db, 0, 1) ?? [] });
      follower.acceptChanges(first);
      mustWrite(leader, (tx) => updateEgressIp(tx, "203.0.113.10", { description: "second" }));
      follower.acceptChanges(overTheWire({ epoch: EPOCH, leader: "gw-a", base: { revision: 1, revisionEpoch: EPOCH }, revisions: changesSince(leader.db, 1, 2) ?? [] }));
      const before = everything();
      assert.throws(() => follower.acceptChanges(first), refusedWith("stale-message", 409));
      assert.deepEqual(everything(), before);
      const logged = warnings().find((l) => l["code"] === "stale-message");
      assert.ok(logged, JSON.stringify(lines));
      assert.equal(logged["peer"], "gw-a");
    });

    it("refuses a replayed older snapshot that would roll a revocation back", () => {
      runWorkload(leader);
      const tokenId = mustWrite(leader, (tx) => issueToken(tx, "prod", "automation")).result.id;
      const old = overTheWire(exportSnapshot(leader.db));
      follower.acceptSnapshot({ epoch: EPOCH, leader: "gw-a", snapshot: old });
      mustWrite(leader, (tx) => revokeToken(tx, "prod", tokenId));
      follower.acceptChanges(overTheWire({ epoch: EPOCH, leader: "gw-a", base: position(store.db), revisions: changesSince(leader.db, old.revision, leader.revision()) ?? [] }));
      const before = everything();
      assert.throws(() => follower.acceptSnapshot({ epoch: EPOCH, leader: "gw-a", snapshot: old }), refusedWith("stale-message", 409));
      assert.deepEqual(everything(), before, "the revocation stays");
    });

    it("refuses a message from a stale epoch and logs it at warn with the peer's name", () => {
      setReplicationState(store.db, 512, "gw-a");
      mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      const before = everything();
      assert.throws(() => follower.acceptChanges({ epoch: 511, leader: "gw-a", base: position(store.db), revisions: changesSince(leader.db, 0, 1) ?? [] }), refusedWith("stale-epoch", 409));
      assert.throws(() => follower.acceptSnapshot({ epoch: 511, leader: "gw-a", snapshot: overTheWire(exportSnapshot(leader.db)) }), refusedWith("stale-epoch", 409));
      assert.deepEqual(everything(), before);
      assert.equal(warnings().filter((l) => l["code"] === "stale-epoch" && l["peer"] === "gw-a" && l["epoch"] === 511).length, 2);
    });

    it("still accepts a snapshot behind its own position when its newer revisions are from an older term (the leader's history wins)", () => {
      setReplicationState(store.db, 100, "gw-b");
      mustWrite(store, (tx) => createEgressIp(tx, { address: "198.51.100.1" }, OWN));
      mustWrite(store, (tx) => createEgressIp(tx, { address: "198.51.100.2" }, OWN));
      mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      assert.deepEqual(follower.acceptSnapshot(overTheWire({ epoch: EPOCH, leader: "gw-a", snapshot: exportSnapshot(leader.db) })), { revision: 1 });
      assert.equal(epochOfRevision(store.db, 1), EPOCH);
    });
  });

  it("logs at error, with their audit records, the writes a snapshot discards (the conflict rule after a partition)", () => {
    runWorkload(leader);
    sync();
    // A partition: this gateway led for a while and took a write the leader never saw.
    setReplicationState(store.db, 1025, "gw-b");
    mustWrite(store, (tx) => createEgressIp(tx, { address: "198.51.100.7", description: "taken during the partition" }, OWN), "cluster:prod/token:abc");
    setReplicationState(leader.db, 1280, "gw-a");
    mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.40" }, OWN));
    follower.acceptSnapshot(overTheWire({ epoch: 1280, leader: "gw-a", snapshot: exportSnapshot(leader.db) }));
    const logged = errors().find((l) => l.msg.startsWith("discarded writes"));
    assert.ok(logged, JSON.stringify(lines));
    assert.equal(logged["leader"], "gw-a");
    assert.equal(logged["discardedCount"], 1);
    const [record] = logged["discarded"] as { actor: string; action: string; resource: string }[];
    assert.deepEqual({ actor: record?.actor, action: record?.action, resource: record?.resource },
      { actor: "cluster:prod/token:abc", action: "create", resource: "egress-ips/198.51.100.7" });
    assert.deepEqual(dumpReplicated(store.db), dumpReplicated(leader.db));
  });
});
