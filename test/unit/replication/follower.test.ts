import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { AppError, type ErrorCode } from "../../../appliance/errors.js";
import { Follower } from "../../../appliance/replication/follower.js";
import { changesSince, epochOfRevision, exportSnapshot, position, replicationState, setReplicationState } from "../../../appliance/replication/log.js";
import { createCluster } from "../../../appliance/service/clusters.js";
import { createEgressIp } from "../../../appliance/service/egress-ips.js";
import type { Store } from "../../../appliance/store/store.js";
import { dumpReplicated, followerContext, mustWrite, openStore, OWN, overTheWire, revisionEpochRows, runWorkload, workload } from "./replication-helpers.js";

const quiet = pino({ enabled: false });

/** A refusal with its own catalogue code, which the API turns into a 409 carrying the follower's state. */
function refusal(code: ErrorCode, revision: number) {
  return (error: unknown) => {
    assert.ok(error instanceof AppError, `an AppError, not ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.status, 409);
    assert.equal(error.extra["code"], undefined, "the code is the error's own, never an extension member");
    const state = error.extra["state"] as { revision: number; name: string } | undefined;
    assert.equal(state?.name, "gw-b", "the refusal carries the follower's state");
    assert.equal(state?.revision, revision, "the refusal carries the follower's revision");
    return true;
  };
}

describe("Follower", () => {
  let leader: Store;
  let store: Store;
  let leading: boolean;
  let follower: Follower;
  let committed: number[];

  beforeEach(() => {
    leader = openStore();
    setReplicationState(leader.db, 300, "gw-a");
    store = openStore();
    leading = false;
    follower = new Follower(store, followerContext("gw-b", "gw-a", { isLeader: () => leading, role: () => (leading ? "master" : "backup") }), quiet);
    committed = [];
    store.on("committed", (revision) => committed.push(revision));
  });

  /** Everything the follower's store holds, to prove a refusal changed nothing. */
  const everything = () => ({ tables: dumpReplicated(store.db), position: position(store.db), epochs: revisionEpochRows(store.db), state: replicationState(store.db) });

  describe("acceptChanges", () => {
    it("applies revisions that continue from its position, emits 'committed' with the new revision, and records epoch and leader", () => {
      const revision = runWorkload(leader);
      const result = follower.acceptChanges(overTheWire({ epoch: 300, leader: "gw-a", base: position(store.db), revisions: changesSince(leader.db, 0, revision) ?? [] }));
      assert.deepEqual(result, { revision });
      assert.deepEqual(committed, [revision]);
      assert.deepEqual(dumpReplicated(store.db), dumpReplicated(leader.db));
      assert.deepEqual(position(store.db), { revision, revisionEpoch: 300 });
      assert.deepEqual(replicationState(store.db), { epoch: 300, leader: "gw-a" });
      assert.deepEqual(follower.state(), { name: "gw-b", role: "backup", epoch: 300, leader: "gw-a", revision, revisionEpoch: 300, dataplane: null });
    });

    it("continues from a later base in several pushes", () => {
      const steps = workload();
      for (const step of steps) {
        const from = store.revision();
        step.run(leader);
        const base = { revision: from, revisionEpoch: epochOfRevision(leader.db, from) ?? -1 };
        follower.acceptChanges(overTheWire({ epoch: 300, leader: "gw-a", base, revisions: changesSince(leader.db, from, leader.revision()) ?? [] }));
      }
      assert.deepEqual(committed, Array.from({ length: steps.length }, (_, i) => i + 1));
      assert.deepEqual(dumpReplicated(store.db), dumpReplicated(leader.db));
    });

    it("refuses out-of-sync, changing nothing, when the base revision differs", () => {
      mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN));
      const before = everything();
      assert.throws(() => follower.acceptChanges(overTheWire({
        epoch: 300, leader: "gw-a", base: { revision: 1, revisionEpoch: 300 }, revisions: changesSince(leader.db, 1, 2) ?? [],
      })), refusal("out-of-sync", 0));
      assert.deepEqual(everything(), before);
      assert.deepEqual(committed, []);
    });

    it("refuses out-of-sync when the base revision matches but was written in another epoch (diverged history)", () => {
      setReplicationState(store.db, 200, "gw-b");
      mustWrite(store, (tx) => createEgressIp(tx, { address: "198.51.100.1" }, OWN));
      committed.length = 0;
      mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN));
      const before = everything();
      assert.throws(() => follower.acceptChanges(overTheWire({
        epoch: 300, leader: "gw-a", base: { revision: 1, revisionEpoch: 300 }, revisions: changesSince(leader.db, 1, 2) ?? [],
      })), refusal("out-of-sync", 1));
      assert.deepEqual(everything(), before);
      assert.deepEqual(committed, []);
    });

    it("refuses stale-epoch, changing nothing, for an epoch lower than the one it has seen; accepts an equal one", () => {
      setReplicationState(store.db, 512, "gw-c");
      mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      const body = { epoch: 511, leader: "gw-a", base: position(store.db), revisions: changesSince(leader.db, 0, 1) ?? [] };
      const before = everything();
      assert.throws(() => follower.acceptChanges(overTheWire(body)), refusal("stale-epoch", 0));
      assert.deepEqual(everything(), before);
      assert.deepEqual(committed, []);

      assert.deepEqual(follower.acceptChanges(overTheWire({ ...body, epoch: 512 })), { revision: 1 });
      assert.deepEqual(replicationState(store.db), { epoch: 512, leader: "gw-a" });
    });

    it("refuses not-follower while this gateway leads, even for a higher epoch", () => {
      leading = true;
      mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
      const before = everything();
      assert.throws(() => follower.acceptChanges(overTheWire({
        epoch: 10_000, leader: "gw-a", base: position(store.db), revisions: changesSince(leader.db, 0, 1) ?? [],
      })), refusal("not-follower", 0));
      assert.throws(() => follower.acceptSnapshot(overTheWire({ epoch: 10_000, leader: "gw-a", snapshot: exportSnapshot(leader.db) })), refusal("not-follower", 0));
      assert.deepEqual(everything(), before);
      assert.deepEqual(committed, []);
    });
  });

  describe("acceptSnapshot", () => {
    it("replaces a diverged state, records epoch and leader, and emits 'committed' with the snapshot's revision", () => {
      setReplicationState(store.db, 100, "gw-b");
      mustWrite(store, (tx) => createEgressIp(tx, { address: "198.51.100.1" }, OWN));
      mustWrite(store, (tx) => createCluster(tx, { name: "rogue", sourceRanges: ["10.99.0.0/16"], egressIps: ["198.51.100.1"] }));
      committed.length = 0;
      const revision = runWorkload(leader);
      const snapshot = exportSnapshot(leader.db);
      assert.deepEqual(follower.acceptSnapshot(overTheWire({ epoch: 300, leader: "gw-a", snapshot })), { revision });
      assert.deepEqual(committed, [revision]);
      assert.deepEqual(dumpReplicated(store.db), dumpReplicated(leader.db));
      assert.deepEqual(position(store.db), { revision, revisionEpoch: 300 });
      assert.deepEqual(replicationState(store.db), { epoch: 300, leader: "gw-a" });
    });

    it("refuses stale-epoch for an epoch lower than the one it has seen, changing nothing", () => {
      setReplicationState(store.db, 512, "gw-c");
      runWorkload(leader);
      const before = everything();
      assert.throws(() => follower.acceptSnapshot(overTheWire({ epoch: 300, leader: "gw-a", snapshot: exportSnapshot(leader.db) })), refusal("stale-epoch", 0));
      assert.deepEqual(everything(), before);
      assert.deepEqual(committed, []);
    });
  });
});
