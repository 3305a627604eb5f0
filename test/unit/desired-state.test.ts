import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dataplaneRevision, egressIpAddresses, readDesiredState, readMappingChanges, snapshotsTaken } from "../../appliance/reconcile/desired-state.js";
import { exportSnapshot, importSnapshot, noteHistoryRestarted } from "../../appliance/replication/log.js";
import { createCluster } from "../../appliance/service/clusters.js";
import { createMapping } from "../../appliance/service/mappings.js";
import { createEgressIp, deleteEgressIp, updateEgressIp } from "../../appliance/service/egress-ips.js";
import { issueToken, revokeToken } from "../../appliance/service/tokens.js";
import { mustWrite, openStore, OWN } from "./replication/replication-helpers.js";

describe("dataplaneRevision: the reconciler's question to the changelog's owner", () => {
  it("moves with writes to what the data plane is built from, and stays put for the rest", () => {
    const store = openStore();
    assert.equal(dataplaneRevision(store.db), 0);
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    assert.equal(dataplaneRevision(store.db), 0, "egress IPs are compared by their addresses instead (egressIpAddresses)");
    const cluster = mustWrite(store, (tx) => createCluster(tx, { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] })).revision;
    assert.equal(dataplaneRevision(store.db), cluster, "source ranges are guarded by the data plane");
    const token = mustWrite(store, (tx) => issueToken(tx, "prod", "ci")).result.id;
    mustWrite(store, (tx) => revokeToken(tx, "prod", token));
    assert.equal(store.revision(), cluster + 2);
    assert.equal(dataplaneRevision(store.db), cluster, "tokens are none of the data plane's business");
  });

  it("is 0 once a snapshot restarted the history, until this process notes the snapshot as committed", () => {
    const leader = openStore();
    mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    const follower = openStore();
    follower.applyExternal(1, () => importSnapshot(follower.db, exportSnapshot(leader.db)));
    assert.equal(follower.revision(), 1);
    assert.equal(dataplaneRevision(follower.db), 0);
    noteHistoryRestarted(follower.db, 1);
    assert.equal(dataplaneRevision(follower.db), 1);
  });

  it("differs after each of two snapshots in a row that change only mappings (the reconciler's skip must not take the second)", () => {
    const leader = openStore();
    mustWrite(leader, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    mustWrite(leader, (tx) => createCluster(tx, { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] }));
    const follower = openStore();
    const seen: number[] = [];
    for (const name of ["web", "api"]) {
      mustWrite(leader, (tx) => createMapping(tx, "prod", { name, sourceCidr: name === "web" ? "10.244.1.0/24" : "10.244.2.0/24", egressIp: "203.0.113.10" }));
      const snapshot = exportSnapshot(leader.db);
      follower.applyExternal(snapshot.revision, () => importSnapshot(follower.db, snapshot));
      noteHistoryRestarted(follower.db, snapshot.revision);
      seen.push(dataplaneRevision(follower.db));
    }
    assert.notEqual(seen[0], seen[1]);
    assert.equal(snapshotsTaken(follower.db), 2, "counted, for a snapshot at an unchanged revision");
  });
});

describe("egressIpAddresses: what the data plane takes from the egress IPs", () => {
  it("changes when an address is added or removed, and not when a description changes", () => {
    const store = openStore();
    assert.deepEqual(egressIpAddresses(store.db), []);
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN));
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    assert.deepEqual(egressIpAddresses(store.db), ["203.0.113.10", "203.0.113.11"]);
    mustWrite(store, (tx) => updateEgressIp(tx, "203.0.113.10", { description: "moved to rack 4" }));
    assert.deepEqual(egressIpAddresses(store.db), ["203.0.113.10", "203.0.113.11"]);
    mustWrite(store, (tx) => deleteEgressIp(tx, "203.0.113.11"));
    assert.deepEqual(egressIpAddresses(store.db), ["203.0.113.10"]);
    assert.deepEqual(egressIpAddresses(store.db), readDesiredState(store.db).egressIps, "the same list the desired state holds");
  });
});

describe("readDesiredState", () => {
  it("reads the data plane's inputs at the store's revision", () => {
    const store = openStore();
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    mustWrite(store, (tx) => createCluster(tx, { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] }));
    assert.deepEqual(readDesiredState(store.db), {
      revision: store.revision(), mappings: [], routes: [], egressIps: ["203.0.113.10"], sourceRanges: [{ cluster: "prod", cidr: "10.244.0.0/16" }], policies: [], floors: [],
    });
  });
});

describe("readMappingChanges: the changelog's shortcut input", () => {
  it("gives the changed mappings, and nothing (the full pass) past the limit of changed rows", () => {
    const store = openStore();
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    const since = mustWrite(store, (tx) => createCluster(tx, { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] })).revision;
    for (const name of ["a", "b", "c"]) mustWrite(store, (tx) => createMapping(tx, "prod", { name, sourceCidr: `10.244.${name.charCodeAt(0)}.0/24`, egressIp: "203.0.113.10" }));
    assert.deepEqual(readMappingChanges(store.db, since, 100)?.mappings.map((m) => [m.name, m.now?.sourceCidr]),
      [["a", "10.244.97.0/24"], ["b", "10.244.98.0/24"], ["c", "10.244.99.0/24"]]);
    assert.equal(readMappingChanges(store.db, since, 2), undefined, "three mappings and their audit records are more than 2 rows");
  });
});
