import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import {
  applyChanges, changesSince, exportSnapshot, importSnapshot, position, setReplicationState, type RevisionChanges,
} from "../../../appliance/replication/log.js";
import { REPLICATED_TABLES } from "../../../appliance/store/replicated-tables.js";
import { createCluster, replaceCluster } from "../../../appliance/service/clusters.js";
import { createEgressIp, updateEgressIp } from "../../../appliance/service/egress-ips.js";
import { replaceMappings } from "../../../appliance/service/mappings.js";
import { AppError } from "../../../appliance/errors.js";
import type { Store } from "../../../appliance/store/store.js";
import {
  changelogRows, countRows, dumpReplicated, dumpTable, mustWrite, openStore, OWN, overTheWire, revisionEpochRows, runWorkload, workload,
} from "./replication-helpers.js";

const LEADER_EPOCH = 257;

/** Ships the leader's revisions after the follower's current revision, as JSON, and replays them in one transaction. */
function sync(leader: Store, follower: Store): RevisionChanges[] {
  const changes = changesSince(leader.db, follower.revision(), leader.revision());
  assert.ok(changes, "the leader can produce every revision since the follower's");
  const shipped = overTheWire(changes);
  follower.db.transaction(() => applyChanges(follower.db, shipped))();
  return changes;
}

function assertSame(leader: Store, follower: Store, context: string): void {
  assert.deepEqual(dumpReplicated(follower.db), dumpReplicated(leader.db), `tables differ after: ${context}`);
  assert.equal(follower.revision(), leader.revision(), `revision after: ${context}`);
  assert.deepEqual(position(follower.db), position(leader.db), `position after: ${context}`);
}

describe("changelog replay: changesSince on the leader, applyChanges on the follower", () => {
  let leader: Store;
  let follower: Store;

  beforeEach(() => {
    leader = openStore();
    follower = openStore();
    setReplicationState(leader.db, LEADER_EPOCH, "gw-a");
  });

  it("the workload produces data in every replicated table, BLOBs included (so the comparisons below mean something)", () => {
    runWorkload(leader);
    for (const spec of REPLICATED_TABLES) assert.ok(countRows(leader.db, spec.name) > 0, `${spec.name} has rows`);
    const range = dumpTable(leader.db, "cluster_source_ranges")[0];
    assert.ok(Buffer.isBuffer(range?.["range_start"]), "range_start is read back as a BLOB");
  });

  it("replaying all revisions at once makes every replicated table and the revision identical", () => {
    const revision = runWorkload(leader);
    const changes = changesSince(leader.db, 0, revision);
    assert.ok(changes);
    assert.deepEqual(changes.map((c) => c.revision), Array.from({ length: revision }, (_, i) => i + 1));
    assert.ok(changes.every((c) => c.epoch === LEADER_EPOCH && c.entries.length > 0));
    sync(leader, follower);
    assertSame(leader, follower, "the whole workload");
    assert.deepEqual(revisionEpochRows(follower.db), revisionEpochRows(leader.db), "each revision's epoch travels with it");
  });

  it("replaying revision by revision keeps the follower identical after every write", () => {
    for (const step of workload()) {
      step.run(leader);
      const shipped = sync(leader, follower);
      assert.equal(shipped.length, 1, `${step.name}: one revision per write`);
      assertSame(leader, follower, step.name);
    }
  });

  it("the follower's own changelog can serve the same history (it can lead after a failover)", () => {
    const revision = runWorkload(leader);
    sync(leader, follower);
    const strip = (rows: ReturnType<typeof changelogRows>) => rows.map(({ seq: _seq, ...rest }) => rest);
    assert.deepEqual(strip(changelogRows(follower.db)), strip(changelogRows(leader.db)));
    assert.deepEqual(changesSince(follower.db, 0, revision), changesSince(leader.db, 0, revision));
  });

  it("replacing mappings twice (a source CIDR moving to another name) replays in the leader's order", () => {
    const steps = workload();
    const second = steps.findIndex((s) => s.name.startsWith("replace prod mappings (second"));
    for (const step of steps.slice(0, second + 1)) step.run(leader);
    sync(leader, follower);
    assertSame(leader, follower, "two replacements");
    const names = dumpTable(follower.db, "mappings").map((m) => `${String(m["name"])}=${String(m["source_cidr"])}>${String(m["egress_ip"])}`);
    assert.deepEqual(names, ["a2=10.244.1.0/26>203.0.113.11", "b=10.244.1.64/26>203.0.113.10", "c=10.244.2.0/24>203.0.113.10", "v6=fd00:10:244:1::/64>2001:db8::10"]);
  });

  it("a description-only cluster update is replayed as an update in place: the follower keeps the cluster's mappings, routes and tokens", () => {
    const steps = workload();
    const update = steps.findIndex((s) => s.name === "update prod's description only");
    for (const step of steps.slice(0, update)) step.run(leader);
    sync(leader, follower);
    const children = () => ({
      mappings: dumpTable(follower.db, "mappings"),
      routes: dumpTable(follower.db, "routes"),
      tokens: dumpTable(follower.db, "tokens"),
      grants: dumpTable(follower.db, "cluster_egress_ips"),
    });
    const before = children();
    assert.ok(before.mappings.length >= 3 && before.routes.length === 2 && before.tokens.length === 1, "prod has children to lose");

    steps[update]?.run(leader);
    const shipped = sync(leader, follower);
    const entries = shipped[0]?.entries ?? [];
    assert.ok(entries.some((e) => e.tbl === "clusters" && e.op === "upsert" && e.pk["name"] === "prod"), "the revision upserts the existing parent row");
    assert.ok(!entries.some((e) => e.tbl === "mappings"), "the leader's update touched no mapping");

    assert.deepEqual(children(), before, "no child row was deleted (or rewritten) on the follower");
    assert.equal(dumpTable(follower.db, "clusters").find((c) => c["name"] === "prod")?.["description"], "production (eu)");
    assertSame(leader, follower, "the description update");
  });

  it("deleting a cluster with cascade=true logs the cascaded child deletes and replays them", () => {
    const steps = workload();
    const cascade = steps.findIndex((s) => s.name === "delete cluster staging with cascade");
    for (const step of steps.slice(0, cascade)) step.run(leader);
    sync(leader, follower);
    const stagingRows = (db: Store["db"]) => Object.fromEntries(["cluster_source_ranges", "cluster_egress_ips", "tokens", "mappings", "routes"]
      .map((t) => [t, dumpTable(db, t).filter((r) => r["cluster"] === "staging").length]));
    assert.deepEqual(stagingRows(follower.db), { cluster_source_ranges: 1, cluster_egress_ips: 1, tokens: 1, mappings: 1, routes: 1 });

    steps[cascade]?.run(leader);
    const shipped = sync(leader, follower);
    const deletes = (shipped[0]?.entries ?? []).filter((e) => e.op === "delete").map((e) => e.tbl).sort();
    assert.deepEqual(deletes, ["cluster_egress_ips", "cluster_source_ranges", "clusters", "mappings", "routes", "tokens"]);
    assert.deepEqual(stagingRows(follower.db), { cluster_source_ranges: 0, cluster_egress_ips: 0, tokens: 0, mappings: 0, routes: 0 });
    assert.ok(dumpTable(follower.db, "mappings").some((m) => m["cluster"] === "prod"), "prod's mappings are untouched");
    assertSame(leader, follower, "the cascading delete");
  });

  it("changesSince refuses (undefined) a range it has no complete record of", () => {
    const revision = runWorkload(leader);
    assert.equal(changesSince(leader.db, 0, revision + 1), undefined, "a revision that does not exist yet");
    const snapshot = exportSnapshot(leader.db);
    follower.applyExternal(snapshot.revision, () => importSnapshot(follower.db, overTheWire(snapshot)));
    assert.equal(changesSince(follower.db, 0, revision), undefined, "history before a snapshot is unknown");
    assert.deepEqual(changesSince(follower.db, revision, revision), [], "nothing after the snapshot yet");
  });
});

describe("snapshots", () => {
  let leader: Store;

  beforeEach(() => {
    leader = openStore();
    setReplicationState(leader.db, LEADER_EPOCH, "gw-a");
    runWorkload(leader);
  });

  it("exportSnapshot carries the position and every replicated table", () => {
    const snapshot = exportSnapshot(leader.db);
    assert.deepEqual({ revision: snapshot.revision, revisionEpoch: snapshot.revisionEpoch }, { revision: leader.revision(), revisionEpoch: LEADER_EPOCH });
    assert.deepEqual(Object.keys(snapshot.tables).sort(), REPLICATED_TABLES.map((s) => s.name).sort());
    for (const spec of REPLICATED_TABLES) assert.equal(snapshot.tables[spec.name]?.length, countRows(leader.db, spec.name), spec.name);
  });

  it("a table of a later release is left out of the snapshot while it is empty, so a peer of the release before accepts it", () => {
    const empty = openStore();
    mustWrite(empty, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    const snapshot = exportSnapshot(empty.db);
    const late = REPLICATED_TABLES.filter((spec) => spec.addedIn !== undefined).map((spec) => spec.name);
    assert.deepEqual(late, ["egress_policies", "policy_floors"]);
    for (const table of late) assert.equal(table in snapshot.tables, false, `${table} is not in the snapshot`);
    const follower = openStore();
    follower.applyExternal(snapshot.revision, () => importSnapshot(follower.db, overTheWire(snapshot)));
    assert.deepEqual(dumpReplicated(follower.db), dumpReplicated(empty.db));
  });

  for (const target of ["an empty store", "a store with a diverged history"] as const) {
    it(`importSnapshot into ${target} gives identical tables and revision, an empty changelog and only the snapshot's revision epoch`, () => {
      const follower = openStore();
      if (target === "a store with a diverged history") {
        setReplicationState(follower.db, 5, "gw-b");
        mustWrite(follower, (tx) => createEgressIp(tx, { address: "198.51.100.7" }, OWN));
        mustWrite(follower, (tx) => createEgressIp(tx, { address: "203.0.113.10", description: "the follower's own" }, OWN));
        mustWrite(follower, (tx) => createCluster(tx, { name: "rogue", sourceRanges: ["10.99.0.0/16"], egressIps: ["198.51.100.7"] }));
        for (let i = 0; i < 30; i++) mustWrite(follower, (tx) => updateEgressIp(tx, "198.51.100.7", { description: `v${i}` }));
        assert.ok(follower.revision() > leader.revision(), "the follower is ahead, on another history");
      }
      const snapshot = overTheWire(exportSnapshot(leader.db));
      follower.applyExternal(snapshot.revision, () => importSnapshot(follower.db, snapshot));
      assert.deepEqual(dumpReplicated(follower.db), dumpReplicated(leader.db));
      assert.equal(follower.revision(), leader.revision());
      assert.deepEqual(position(follower.db), position(leader.db));
      assert.equal(countRows(follower.db, "changelog"), 0);
      assert.deepEqual(revisionEpochRows(follower.db), [{ revision: snapshot.revision, epoch: LEADER_EPOCH }]);
    });
  }

  it("a snapshot is a valid base: the leader's next revisions replay on top of it", () => {
    const follower = openStore();
    const snapshot = overTheWire(exportSnapshot(leader.db));
    follower.applyExternal(snapshot.revision, () => importSnapshot(follower.db, snapshot));
    mustWrite(leader, (tx) => replaceMappings(tx, "prod", []));
    mustWrite(leader, (tx) => createEgressIp(tx, { address: "2001:db8::99" }, OWN));
    sync(leader, follower);
    assertSame(leader, follower, "two writes after the snapshot");
  });
});

describe("a write that changes nothing", () => {
  let store: Store;

  beforeEach(() => {
    store = openStore();
    runWorkload(store);
  });

  const unchanged = (before: { revision: number; changelog: number; epochs: number; audit: number }) => {
    assert.equal(store.revision(), before.revision, "revision");
    assert.equal(countRows(store.db, "changelog"), before.changelog, "changelog rows");
    assert.equal(countRows(store.db, "revision_epochs"), before.epochs, "revision_epochs rows");
    assert.equal(countRows(store.db, "audit_log"), before.audit, "audit rows");
  };
  const snapshotCounts = () => ({
    revision: store.revision(), changelog: countRows(store.db, "changelog"), epochs: countRows(store.db, "revision_epochs"), audit: countRows(store.db, "audit_log"),
  });

  it("an update to the same value rolls back: revision unchanged, no changelog rows", () => {
    const before = snapshotCounts();
    const outcome = store.write("admin", (tx) => updateEgressIp(tx, "203.0.113.11", { description: "secondary" }));
    assert.equal(outcome.changed, false);
    assert.equal(outcome.revision, before.revision);
    unchanged(before);
  });

  it("a write that rewrites rows to the same content but audits nothing rolls back its changelog rows too", () => {
    const before = snapshotCounts();
    const tables = dumpReplicated(store.db);
    const outcome = store.write("admin", (tx) => replaceCluster(tx, {
      name: "prod", description: "production (eu)", sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"],
      excludableDestinations: ["10.0.0.0/8"], quotas: { routes: 50 },
    }));
    assert.equal(outcome.changed, false);
    unchanged(before);
    assert.deepEqual(dumpReplicated(store.db), tables);
  });

  it("a refused write rolls back: revision unchanged, no changelog rows", () => {
    const before = snapshotCounts();
    assert.throws(() => store.write("admin", (tx) => createCluster(tx, { name: "prod", sourceRanges: [], egressIps: [] })),
      (error: unknown) => error instanceof AppError && error.code === "conflict");
    unchanged(before);
  });
});
