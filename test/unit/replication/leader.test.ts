import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { AppError } from "../../../appliance/errors.js";
import { Replicator } from "../../../appliance/replication/leader.js";
import { position, replicationState, setReplicationState } from "../../../appliance/replication/log.js";
import { createEgressIp, updateEgressIp } from "../../../appliance/service/egress-ips.js";
import type { Store } from "../../../appliance/store/store.js";
import { dumpReplicated, mustWrite, openStore, OWN, runWorkload, workload } from "./replication-helpers.js";
import { held, StubPeer, TIMEOUT_MS, until } from "./stub-peer.js";

const quiet = pino({ enabled: false });
const REVOCATION_TIMEOUT_MS = 1_000;

describe("Replicator with stubbed peers backed by real followers", () => {
  let leader: Store;
  const replicators: Replicator[] = [];

  const replicator = (peers: StubPeer[], slot = 1) => {
    const r = new Replicator({ store: leader, name: "gw-a", peers, slot, timeoutMs: TIMEOUT_MS, revocationTimeoutMs: REVOCATION_TIMEOUT_MS, log: quiet });
    replicators.push(r);
    return r;
  };

  beforeEach(() => {
    leader = openStore();
  });

  afterEach(() => {
    for (const r of replicators.splice(0)) r.stop();
  });

  describe("becomeLeader", () => {
    it("takes an epoch above every peer's: (floor(max/256)+1)*256 + slot, and names itself leader", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const c = new StubPeer("gw-c", openStore("gw-c"));
      setReplicationState(b.store.db, 300, "gw-b");
      setReplicationState(c.store.db, 700, "gw-c");
      const r = replicator([b, c], 2);
      assert.equal(r.isLeader(), false);
      await r.becomeLeader();
      assert.equal(r.isLeader(), true);
      assert.deepEqual(replicationState(leader.db), { epoch: 3 * 256 + 2, leader: "gw-a" });
    });

    it("goes above its own epoch when that is the highest, and above an exact multiple of 256", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      setReplicationState(b.store.db, 512, "gw-b");
      setReplicationState(leader.db, 257, "gw-a");
      await replicator([b], 1).becomeLeader();
      assert.equal(replicationState(leader.db).epoch, 3 * 256 + 1, "512 is taken by a leader of slot 0: the next term starts at 768");

      const other = openStore();
      setReplicationState(other.db, 1000, null);
      leader = other;
      await replicator([new StubPeer("gw-b", openStore("gw-b"))], 0).becomeLeader();
      assert.equal(replicationState(other.db).epoch, 4 * 256 + 0);
    });

    it("ignores peers it cannot reach when picking the epoch", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      setReplicationState(b.store.db, 5000, "gw-b");
      b.down = true;
      await replicator([b], 1).becomeLeader();
      assert.equal(replicationState(leader.db).epoch, 256 + 1);
    });
  });

  describe("confirmations (the replication metrics)", () => {
    it("none while following; while leading, each follower's confirmed revision and time, kept when it goes down", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const r = replicator([b]);
      assert.deepEqual(r.confirmations(), [], "a follower's links are stale: nothing to report");
      b.down = true;
      const before = Date.now();
      await r.becomeLeader();
      const silent = r.confirmations();
      assert.equal(silent[0]?.revision, null, "not confirmed since this gateway leads");
      assert.ok((silent[0]?.atMs ?? 0) >= before, "the time leading began");
      b.down = false;
      const { revision } = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      void held(r.replicate(revision));
      // The heartbeat catches it up if the replicate's first try still met the peer down.
      await until(() => r.confirmations()[0]?.revision === revision, 5_000, "gw-b to confirm");
      const confirmed = r.confirmations()[0];
      assert.equal(confirmed?.revision, revision);
      assert.ok((confirmed?.atMs ?? 0) >= (silent[0]?.atMs ?? 0));
      b.down = true;
      const { revision: next } = mustWrite(leader, (tx) => updateEgressIp(tx, "203.0.113.10", { description: "x" }));
      await held(r.replicate(next));
      assert.deepEqual(r.confirmations()[0], confirmed, "what it last confirmed stays, so the lag grows");
      r.stepDown();
      assert.deepEqual(r.confirmations(), []);
    });

    it("forgets the previous term's confirmation when it leads again (A, then B, then A): no lag until the follower confirms", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const r = replicator([b]);
      await r.becomeLeader();
      const { revision } = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      await held(r.replicate(revision));
      await until(() => r.confirmations()[0]?.revision === revision, 5_000, "gw-b to confirm");
      const firstTerm = r.confirmations()[0];
      r.stepDown();
      b.down = true;
      // The second term must begin on a later millisecond than the confirmation, or the time check proves nothing.
      await until(() => Date.now() > (firstTerm?.atMs ?? Infinity), 1_000, "the clock to move on");
      const secondTermBegins = Date.now();
      await r.becomeLeader();
      const secondTerm = r.confirmations();
      assert.equal(secondTerm.length, 1);
      assert.equal(secondTerm[0]?.revision, null, "no lag series: gw-b has not confirmed anything in this term");
      assert.ok((secondTerm[0]?.atMs ?? 0) >= secondTermBegins, "silent since this term began, not since the last one's confirmation");
    });
  });

  describe("replicate", () => {
    it("answers at once, with nothing sent, while not leading", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const r = replicator([b]);
      const { revision } = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      assert.deepEqual(await r.replicate(revision), [{ name: "gw-b", status: "unknown", revision: null, lastError: null, outcome: "timeout" }]);
      assert.deepEqual(b.calls, []);
    });

    it("resolves with the peer in-sync once the follower has the revision, shipping changes (not snapshots)", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const r = replicator([b]);
      await r.becomeLeader();
      for (const step of workload()) {
        step.run(leader);
        const revision = leader.revision();
        const reports = await r.replicate(revision);
        assert.deepEqual(reports, [{ name: "gw-b", status: "in-sync", revision, lastError: null, outcome: "confirmed" }], step.name);
        assert.equal(b.store.revision(), revision, step.name);
      }
      assert.deepEqual(dumpReplicated(b.store.db), dumpReplicated(leader.db));
      assert.deepEqual(position(b.store.db), position(leader.db));
      assert.equal(position(b.store.db).revisionEpoch, 256 + 1, "revisions carry the leader's epoch");
      assert.deepEqual(replicationState(b.store.db), { epoch: 256 + 1, leader: "gw-a" });
      assert.ok(b.calls.includes("changes"));
      assert.ok(!b.calls.includes("snapshot"), "a follower that shares the history never needs a snapshot");
    });

    it("ships everything a follower missed when it joins late (revisions written before the term included)", async () => {
      const revision = runWorkload(leader);
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const r = replicator([b]);
      await r.becomeLeader();
      assert.deepEqual(await r.replicate(revision), [{ name: "gw-b", status: "in-sync", revision, lastError: null, outcome: "confirmed" }]);
      assert.deepEqual(dumpReplicated(b.store.db), dumpReplicated(leader.db));
      assert.ok(!b.calls.includes("snapshot"));
    });

    for (const variant of ["ahead of the leader", "at a revision the leader wrote in another epoch"] as const) {
      it(`re-seeds with a snapshot a follower that diverged (${variant})`, async () => {
        const b = new StubPeer("gw-b", openStore("gw-b"));
        setReplicationState(b.store.db, 100, "gw-b");
        mustWrite(b.store, (tx) => createEgressIp(tx, { address: "198.51.100.1", description: "only on gw-b" }, OWN));
        const extra = variant === "ahead of the leader" ? 40 : 2;
        for (let i = 0; i < extra; i++) mustWrite(b.store, (tx) => updateEgressIp(tx, "198.51.100.1", { description: `gw-b ${i}` }));
        const revision = runWorkload(leader);
        assert.equal(b.store.revision() > revision, variant === "ahead of the leader");

        const r = replicator([b]);
        await r.becomeLeader();
        assert.deepEqual(await r.replicate(revision), [{ name: "gw-b", status: "in-sync", revision, lastError: null, outcome: "confirmed" }]);
        assert.ok(b.calls.includes("snapshot"), `calls: ${b.calls.join(", ")}`);
        assert.ok(!b.calls.includes("changes"), "changes on top of a foreign history would be wrong");
        assert.deepEqual(dumpReplicated(b.store.db), dumpReplicated(leader.db));
        assert.deepEqual(position(b.store.db), position(leader.db));
      });
    }

    it("detects a follower that lost its database (out-of-sync), re-reads its state and brings it up to date with changes", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const r = replicator([b]);
      await r.becomeLeader();
      const first = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN)).revision;
      assert.equal((await r.replicate(first))[0]?.status, "in-sync");
      b.replaceStore(openStore());
      b.calls.length = 0;
      const second = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN)).revision;
      assert.deepEqual(await r.replicate(second), [{ name: "gw-b", status: "in-sync", revision: second, lastError: null, outcome: "confirmed" }]);
      assert.deepEqual(b.calls, ["changes", "state", "changes"], "refused from the old base, then everything from revision 0");
      assert.deepEqual(dumpReplicated(b.store.db), dumpReplicated(leader.db));
    });

    it("re-seeds a follower that committed a write of its own after accepting the leader's epoch (a write racing a step-down)", async () => {
      // leaderWrites() checks isLeader() and then awaits the request body before store.write(): a gateway that
      // steps down in between, and has already accepted the new leader's first push, commits the write locally.
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const r = replicator([b]);
      await r.becomeLeader();
      const first = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN)).revision;
      assert.equal((await r.replicate(first))[0]?.status, "in-sync");
      mustWrite(b.store, (tx) => createEgressIp(tx, { address: "198.51.100.1", description: "committed on gw-b after it stepped down" }, OWN));
      const second = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN)).revision;
      assert.equal(b.store.revision(), second, "both gateways are at revision 2, with different contents");
      const reports = await r.replicate(second);
      assert.deepEqual(dumpReplicated(b.store.db), dumpReplicated(leader.db),
        `gw-b must not keep a revision ${second} that differs from the leader's; reported ${JSON.stringify(reports)}, calls ${b.calls.join(", ")}`);
    });

    it("takes a higher epoch when a follower has seen a newer one (stale-epoch), then gets through", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const r = replicator([b]);
      await r.becomeLeader();
      assert.equal(replicationState(leader.db).epoch, 257);
      setReplicationState(b.store.db, 1000, "gw-c");
      const { revision } = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      assert.deepEqual(await r.replicate(revision), [{ name: "gw-b", status: "in-sync", revision, lastError: null, outcome: "confirmed" }]);
      assert.equal(replicationState(leader.db).epoch, 4 * 256 + 1);
      assert.deepEqual(replicationState(b.store.db), { epoch: 4 * 256 + 1, leader: "gw-a" });
    });

    it("an unreachable peer makes replicate resolve after the timeout, reported not in sync", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const c = new StubPeer("gw-c", openStore("gw-c"));
      b.down = true;
      const r = replicator([b, c]);
      await r.becomeLeader();
      const { revision } = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      const started = Date.now();
      const reports = await held(r.replicate(revision));
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= TIMEOUT_MS - 20, `waited ${elapsed} ms for the timeout`);
      assert.ok(elapsed < TIMEOUT_MS + 500, `waited ${elapsed} ms, far past the timeout`);
      const byName = new Map(reports.map((p) => [p.name, p]));
      assert.equal(byName.get("gw-b")?.status, "unreachable");
      assert.equal(byName.get("gw-b")?.revision, null);
      assert.match(byName.get("gw-b")?.lastError ?? "", /unreachable/);
      assert.deepEqual(byName.get("gw-c"), { name: "gw-c", status: "in-sync", revision, lastError: null, outcome: "confirmed" }, "the reachable peer is not held back");
      assert.equal(b.store.revision(), 0);
    });

    it("unreachable is decided by the error's code, never by its text", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      b.state = async () => {
        throw new AppError("peer-failed", "peer gw-b answered 500: the upstream is unreachable");
      };
      const r = replicator([b]);
      await r.becomeLeader();
      const { revision } = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      const [report] = await held(r.replicate(revision, "revocation"));
      assert.equal(report?.status, "behind", "an answer with an error is not an unreachable peer, whatever its message says");
      assert.equal(report?.outcome, "timeout", "a revocation waits for a peer that answers");
      assert.match(report?.lastError ?? "", /answered 500/);
    });

    it("a peer that comes back catches up by itself (heartbeat), without another write", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      b.down = true;
      const r = replicator([b]);
      await r.becomeLeader();
      const revision = runWorkload(leader);
      assert.equal((await held(r.replicate(revision)))[0]?.status, "unreachable");
      b.down = false;
      await until(() => b.store.revision() === revision, 3_000, "the heartbeat to bring gw-b up to date");
      await until(() => r.peers()[0]?.status === "in-sync", 1_000, "gw-b to be reported in-sync");
      assert.deepEqual(r.peers(), [{ name: "gw-b", status: "in-sync", revision, lastError: null }]);
      assert.deepEqual(dumpReplicated(b.store.db), dumpReplicated(leader.db));
    });

    it("a peer that comes back catches up on the next replicate", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      b.down = true;
      const r = replicator([b]);
      await r.becomeLeader();
      const first = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN)).revision;
      assert.equal((await held(r.replicate(first)))[0]?.status, "unreachable");
      b.down = false;
      const second = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN)).revision;
      const started = Date.now();
      assert.deepEqual(await r.replicate(second), [{ name: "gw-b", status: "in-sync", revision: second, lastError: null, outcome: "confirmed" }]);
      assert.ok(Date.now() - started < TIMEOUT_MS, "answered as soon as the follower confirmed, not at the timeout");
      assert.deepEqual(dumpReplicated(b.store.db), dumpReplicated(leader.db));
    });

    it("stops sending after stepDown", async () => {
      const b = new StubPeer("gw-b", openStore("gw-b"));
      const r = replicator([b]);
      await r.becomeLeader();
      const first = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN)).revision;
      assert.equal((await r.replicate(first))[0]?.status, "in-sync");
      r.stepDown();
      assert.equal(r.isLeader(), false);
      const second = mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN)).revision;
      await r.replicate(second);
      await sleep(50);
      assert.equal(b.store.revision(), first);
    });
  });
});
