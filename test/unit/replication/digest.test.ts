import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { computeDigest, DigestCache } from "../../../appliance/replication/digest.js";
import { Replicator } from "../../../appliance/replication/leader.js";
import { exportSnapshot, importSnapshot, position } from "../../../appliance/replication/log.js";
import type { ApplyReport } from "../../../appliance/reconcile/reconciler.js";
import { createEgressIp, updateEgressIp } from "../../../appliance/service/egress-ips.js";
import type { Db } from "../../../appliance/store/database.js";
import { dumpReplicated, mustWrite, openStore, OWN, overTheWire, runWorkload } from "./replication-helpers.js";
import { held, StubPeer, until } from "./stub-peer.js";

const quiet = pino({ enabled: false });

function counting(): { cache: DigestCache; computed: () => number } {
  let n = 0;
  const cache = new DigestCache((db: Db) => {
    n++;
    return computeDigest(db);
  });
  return { cache, computed: () => n };
}

describe("configuration digest", () => {
  it("is equal for equal configurations, ignores the audit log, and changes with any configuration column", () => {
    const a = openStore();
    runWorkload(a);
    const b = openStore();
    b.db.transaction(() => importSnapshot(b.db, overTheWire(exportSnapshot(a.db))))();
    assert.equal(computeDigest(b.db), computeDigest(a.db));
    b.db.prepare("DELETE FROM audit_log WHERE id < 5").run();
    assert.equal(computeDigest(b.db), computeDigest(a.db), "each gateway prunes its own audit log");
    b.db.prepare("UPDATE mappings SET labels = '{\"team\":\"y\"}' WHERE name = 'a2'").run();
    assert.notEqual(computeDigest(b.db), computeDigest(a.db));
  });

  it("is computed at most once per revision; peek never computes", () => {
    const store = openStore();
    const { cache, computed } = counting();
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    assert.equal(cache.peek(store.db), undefined);
    assert.equal(computed(), 0);
    const first = cache.of(store.db);
    assert.equal(cache.of(store.db).digest, first.digest);
    assert.equal(cache.peek(store.db), first.digest);
    assert.equal(computed(), 1);
    mustWrite(store, (tx) => updateEgressIp(tx, "203.0.113.10", { description: "x" }));
    assert.equal(cache.peek(store.db), undefined);
    assert.notEqual(cache.of(store.db).digest, first.digest);
    cache.of(store.db);
    assert.equal(computed(), 2);
  });

  it("is not fooled by an edit made directly in SQLite at the same revision (the changelog triggers record it)", () => {
    const store = openStore();
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    const cache = new DigestCache();
    const before = cache.of(store.db);
    store.db.prepare("UPDATE egress_ips SET description = 'tampered'").run();
    const after = cache.of(store.db);
    assert.equal(after.revision, before.revision);
    assert.notEqual(after.digest, before.digest);
  });
});

describe("heartbeats", () => {
  const replicators: Replicator[] = [];
  afterEach(() => {
    for (const r of replicators.splice(0)) r.stop();
  });

  function lead(peer: StubPeer, options: { digests?: DigestCache; lastApply?: () => ApplyReport | undefined } = {}) {
    const leader = openStore();
    const r = new Replicator({ store: leader, name: "gw-a", peers: [peer], slot: 0, timeoutMs: 1_000, revocationTimeoutMs: 1_000, log: quiet, ...options });
    replicators.push(r);
    return { leader, r };
  }

  it("re-seed a follower whose store was changed behind the leader's back, within a heartbeat or two", async () => {
    const b = new StubPeer("gw-b", openStore("gw-b"));
    const { leader, r } = lead(b);
    await r.becomeLeader();
    const revision = runWorkload(leader);
    assert.equal((await r.replicate(revision))[0]?.outcome, "confirmed");
    assert.deepEqual(dumpReplicated(b.store.db), dumpReplicated(leader.db));
    // Someone edits the follower's database directly: the revision does not move.
    b.store.db.prepare("UPDATE mappings SET egress_ip = '203.0.113.11' WHERE name = 'b'").run();
    b.calls.length = 0;
    await held(until(() => JSON.stringify(dumpReplicated(b.store.db)) === JSON.stringify(dumpReplicated(leader.db)), 5_000, "the follower to be re-seeded"));
    assert.ok(b.calls.includes("snapshot"), b.calls.join(", "));
    assert.ok(b.calls.indexOf("heartbeat") < b.calls.indexOf("snapshot"), `a heartbeat found it, then a snapshot repaired it: ${b.calls.join(", ")}`);
    assert.deepEqual(position(b.store.db), position(leader.db));
  });

  it("never compute the leader's digest on the write path, and at most once per revision", async () => {
    const b = new StubPeer("gw-b", openStore("gw-b"));
    const { cache, computed } = counting();
    const { leader, r } = lead(b, { digests: cache });
    await r.becomeLeader();
    for (let i = 0; i < 5; i++) {
      const { revision } = mustWrite(leader, (tx) => createEgressIp(tx, { address: `203.0.113.${10 + i}` }, OWN));
      assert.equal((await r.replicate(revision))[0]?.outcome, "confirmed");
    }
    assert.equal(computed(), 0, "five replicated writes computed no digest");
    // Quiet for a whole heartbeat interval: the next heartbeat carries the digest.
    await held(until(() => computed() === 1, 5_000, "a heartbeat with a digest"));
    const heartbeats = () => b.calls.filter((c) => c === "heartbeat").length;
    const seen = heartbeats();
    await held(until(() => heartbeats() >= seen + 2, 5_000, "two more heartbeats"));
    assert.equal(computed(), 1, "later heartbeats at the same revision reuse it");
  });

  it("carry each side's data-plane report to the other (the leader's heartbeat view, the follower's replication state)", async () => {
    const followerReport: ApplyReport = { revision: 1, ok: false, at: "2026-12-02T10:00:00.000Z", durationMs: 3, kind: "incremental", error: "nft said no" };
    const leaderReport: ApplyReport = { revision: 1, ok: true, at: "2026-12-02T10:00:00.000Z", durationMs: 2, kind: "incremental" };
    const b = new StubPeer("gw-b", openStore("gw-b"), { lastApply: () => followerReport });
    const { leader, r } = lead(b, { lastApply: () => leaderReport });
    await r.becomeLeader();
    const { revision } = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    await r.replicate(revision);
    await held(until(() => r.peerView.get("gw-b")?.lastApply?.error === "nft said no", 5_000, "the follower's report at the leader"));
    assert.deepEqual(r.peerView.get("gw-b")?.lastApply, followerReport);
    assert.equal(r.peerView.get("gw-b")?.role, "backup");
    assert.deepEqual(b.follower.state().dataplane, followerReport);
    assert.deepEqual(b.peerView.get("gw-a")?.lastApply, leaderReport);
  });
});
