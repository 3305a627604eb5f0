import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { RouteManager } from "../../appliance/kernel/routes.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import type { DesiredState } from "../../appliance/reconcile/desired-state.js";
import { Reconciler } from "../../appliance/reconcile/reconciler.js";
import { FakeSystem } from "../helpers/fake-system.js";

/**
 * The daemon's shortcut: when the newest revision that touched the data plane's inputs has not moved since a
 * pass that realized everything, and the egress IPs' addresses are the ones realized, the pass reads nothing and
 * calls nothing, and only the store revision (a token issued, an audit-only change, an egress IP's description)
 * advances. The daemon always runs with it, so it is tested on its own.
 */
describe("Reconciler: the revision shortcut", () => {
  const setup = () => {
    const system = new FakeSystem();
    const revisions = { store: 5, dataplane: 5, egressIps: ["203.0.113.10"], snapshots: 0 };
    let reads = 0;
    const desired: DesiredState = {
      revision: 5,
      mappings: [{ cluster: "prod", name: "a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: {} }],
      routes: [], egressIps: ["203.0.113.10"], sourceRanges: [{ cluster: "prod", cidr: "10.244.0.0/16" }],
    };
    const reconciler = new Reconciler({
      readDesired: () => {
        reads++;
        return { ...structuredClone(desired), revision: revisions.store, egressIps: [...revisions.egressIps] };
      },
      readRevisions: () => ({ ...revisions, egressIps: [...revisions.egressIps] }),
      nft: new NftClient(system),
      routes: new RouteManager(system, 211, "inside"),
      ruleset: { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop" },
      log: pino({ enabled: false }),
    });
    return { system, revisions, reconciler, reads: () => reads };
  };

  it("skips reading and applying when only revisions that do not touch the data plane were written", async () => {
    const { system, revisions, reconciler, reads } = setup();
    await reconciler.reconcile();
    const readsAfterFirst = reads();
    system.calls = [];
    revisions.store = 9;
    const report = await reconciler.reconcile();
    assert.equal(report.kind, "none");
    assert.equal(reconciler.appliedRevision, 9, "the store's revision counts as applied");
    assert.equal(reads(), readsAfterFirst, "the desired state was not even read");
    assert.deepEqual(system.calls, []);
  });

  it("runs a pass after a snapshot that replaced everything at the very revision it had (a partition's loser)", async () => {
    const { revisions, reconciler, reads } = setup();
    await reconciler.reconcile();
    const before = reads();
    revisions.snapshots = 1;
    await reconciler.reconcile();
    assert.equal(reads(), before + 1, "same store and data-plane revision, yet another history: read and realized");
  });

  it("runs a pass as soon as the data plane's inputs moved", async () => {
    const { revisions, reconciler, reads } = setup();
    await reconciler.reconcile();
    const before = reads();
    revisions.store = 10;
    revisions.dataplane = 10;
    await reconciler.reconcile();
    assert.equal(reads(), before + 1);
    assert.equal(reconciler.appliedRevision, 10);
  });

  it("runs a pass when an egress IP was added or removed, though no other input moved", async () => {
    const { system, revisions, reconciler, reads } = setup();
    await reconciler.reconcile();
    const before = reads();
    revisions.store = 11;
    revisions.egressIps = ["203.0.113.10", "203.0.113.11"];
    system.calls = [];
    await reconciler.reconcile();
    assert.equal(reads(), before + 1, "a new egress IP is read");
    assert.ok(system.calls.length > 0, "and applied");
    revisions.store = 12;
    revisions.egressIps = ["203.0.113.10"];
    await reconciler.reconcile();
    assert.equal(reads(), before + 2, "a removed one too");
    revisions.store = 13;
    revisions.egressIps = ["203.0.113.11"];
    await reconciler.reconcile();
    assert.equal(reads(), before + 3, "and one replaced by another, the count unchanged");
    assert.equal(reconciler.appliedRevision, 13);
  });

  it("skips when the egress IPs are the same addresses again (a description changed)", async () => {
    const { system, revisions, reconciler, reads } = setup();
    await reconciler.reconcile();
    const before = reads();
    system.calls = [];
    revisions.store = 14;
    const report = await reconciler.reconcile();
    assert.equal(report.kind, "none");
    assert.equal(reads(), before);
    assert.deepEqual(system.calls, []);
    assert.equal(reconciler.appliedRevision, 14);
  });

  it("never skips before everything was realized once (the first pass, or after drift)", async () => {
    const { system, reconciler, reads } = setup();
    await reconciler.reconcile();
    system.sets.get("snat_v4")?.elem.clear();
    const drift = (await reconciler.detectDrift()) ?? assert.fail("no pass ran: the comparison stands");
    assert.ok(drift.length > 0, "someone emptied our map");
    const before = reads();
    await reconciler.reconcile();
    assert.equal(reads(), before + 1, "the repair pass ran although no revision moved");
  });
});
