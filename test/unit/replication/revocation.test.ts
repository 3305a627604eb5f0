import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { Replicator } from "../../../appliance/replication/leader.js";
import { isRevocation, revokes } from "../../../appliance/replication/revocation.js";
import { createEgressIp, deleteEgressIp } from "../../../appliance/service/egress-ips.js";
import { StaticOwnAddresses } from "../../../appliance/service/own-addresses.js";
import type { AuditEntry } from "../../../appliance/store/store.js";
import { mustWrite, openStore, OWN } from "./replication-helpers.js";
import { held, StubPeer } from "./stub-peer.js";

const cluster = (sourceRanges: string[], egressIps: string[]) => ({ name: "prod", description: "", sourceRanges, egressIps });
const mapping = (name: string, egressIp: string) => ({ cluster: "prod", name, sourceCidr: "10.244.1.0/26", egressIp, destinations: [], excludedDestinations: [], labels: {} });

const CASES: [string, AuditEntry, boolean][] = [
  ["a token revoked", { action: "revoke", resource: "clusters/prod/tokens/0123456789ab" }, true],
  ["a token issued", { action: "create", resource: "clusters/prod/tokens/0123456789ab" }, false],
  ["a cluster deleted", { action: "delete", resource: "clusters/prod" }, true],
  ["a cluster created", { action: "create", resource: "clusters/prod" }, false],
  ["a cluster's description changed", { action: "update", resource: "clusters/prod", before: cluster(["10.244.0.0/16"], ["203.0.113.10"]), after: { ...cluster(["10.244.0.0/16"], ["203.0.113.10"]), description: "x" } }, false],
  ["a cluster granted one more egress IP", { action: "update", resource: "clusters/prod", before: cluster(["10.244.0.0/16"], ["203.0.113.10"]), after: cluster(["10.244.0.0/16"], ["203.0.113.10", "203.0.113.11"]) }, false],
  ["a cluster's egress IP taken away", { action: "update", resource: "clusters/prod", before: cluster(["10.244.0.0/16"], ["203.0.113.10", "203.0.113.11"]), after: cluster(["10.244.0.0/16"], ["203.0.113.10"]) }, true],
  ["a cluster's source range narrowed", { action: "update", resource: "clusters/prod", before: cluster(["10.244.0.0/16"], []), after: cluster(["10.244.0.0/17"], []) }, true],
  ["a cluster's source range widened", { action: "update", resource: "clusters/prod", before: cluster(["10.244.0.0/16"], []), after: cluster(["10.244.0.0/15"], []) }, false],
  ["a cluster's source range replaced by a disjoint one", { action: "update", resource: "clusters/prod", before: cluster(["10.244.0.0/16"], []), after: cluster(["10.246.0.0/16"], []) }, true],
  ["a cluster update whose records cannot be read", { action: "update", resource: "clusters/prod", before: "?", after: "?" }, true],
  ["an egress IP deleted", { action: "delete", resource: "egress-ips/203.0.113.10" }, true],
  ["an egress IP's description changed", { action: "update", resource: "egress-ips/203.0.113.10", before: {}, after: {} }, false],
  ["an egress IP created", { action: "create", resource: "egress-ips/203.0.113.10" }, false],
  ["a mapping deleted", { action: "delete", resource: "clusters/prod/mappings/a" }, true],
  ["a mapping created", { action: "create", resource: "clusters/prod/mappings/a" }, false],
  ["a PUT of mappings that only adds", { action: "replace", resource: "clusters/prod/mappings", before: [], after: [mapping("a", "203.0.113.10")] }, false],
  ["a PUT of mappings that removes one", { action: "replace", resource: "clusters/prod/mappings", before: [mapping("a", "203.0.113.10")], after: [] }, true],
  ["a PUT of mappings that changes one (its old form is withdrawn)", { action: "replace", resource: "clusters/prod/mappings", before: [mapping("a", "203.0.113.10")], after: [mapping("a", "203.0.113.11")] }, true],
  ["a route deleted", { action: "delete", resource: "clusters/prod/routes/10.244.0.0/16" }, true],
  ["a PUT of routes that removes one", { action: "replace", resource: "clusters/prod/routes", before: [{ cluster: "prod", prefix: "10.244.0.0/16", via: "172.31.0.11" }], after: [] }, true],
  ["a mapping's policy created (it takes every destination it does not allow)", { action: "create", resource: "clusters/prod/mappings/a/policy" }, true],
  ["a cluster's default policy created", { action: "create", resource: "clusters/prod/policy" }, true],
  ["a policy changed", { action: "update", resource: "clusters/prod/mappings/a/policy", before: {}, after: {} }, true],
  ["a policy deleted", { action: "delete", resource: "clusters/prod/policy" }, true],
  ["the global floor created", { action: "create", resource: "policy-floor" }, true],
  ["a cluster's floor created", { action: "create", resource: "clusters/prod/policy-floor" }, true],
  ["an update of a resource this classifier does not know", { action: "update", resource: "clusters/prod/quota", before: 10, after: 5 }, true],
];

describe("revocation classifier", () => {
  for (const [what, entry, expected] of CASES) {
    it(`${what}: ${expected ? "a revocation" : "not a revocation"}`, () => assert.equal(revokes(entry), expected));
  }

  it("a write is a revocation when any of its audit records is one", () => {
    assert.equal(isRevocation([]), false);
    assert.equal(isRevocation([CASES[1]![1], CASES[0]![1]]), true);
    assert.equal(isRevocation([CASES[1]![1], CASES[3]![1]]), false);
  });
});

describe("Replicator.replicate for a revocation", () => {
  const quiet = pino({ enabled: false });
  const replicators: Replicator[] = [];
  afterEach(() => {
    for (const r of replicators.splice(0)) r.stop();
  });

  const lead = (peer: StubPeer, revocationTimeoutMs: number) => {
    const store = openStore();
    const r = new Replicator({ store, name: "gw-a", peers: [peer], slot: 0, timeoutMs: 200, revocationTimeoutMs, log: quiet });
    replicators.push(r);
    return { store, r };
  };

  it("is confirmed once the reachable peer has it", async () => {
    const b = new StubPeer("gw-b", openStore("gw-b"));
    const { store, r } = lead(b, 60_000);
    await r.becomeLeader();
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    const { revision } = mustWrite(store, (tx) => deleteEgressIp(tx, "203.0.113.10"));
    assert.deepEqual((await r.replicate(revision, "revocation")).map((p) => p.outcome), ["confirmed"]);
  });

  it("ends as soon as the peer proves unreachable (with a minute to spare, it does not wait for it)", async () => {
    const b = new StubPeer("gw-b", openStore("gw-b"));
    b.down = true;
    const { store, r } = lead(b, 60_000);
    await r.becomeLeader();
    const { revision } = mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    const [outcome] = await held(r.replicate(revision, "revocation"));
    assert.equal(outcome?.outcome, "unreachable");
    assert.equal(outcome?.status, "unreachable");
  });

  it("waits out ha.revocationTimeoutMs for a peer that is reachable but does not confirm (here it refuses the change)", async () => {
    // gw-b counts 203.0.113.10 as one of its own addresses, so it refuses the egress IP: reachable, never confirming.
    const b = new StubPeer("gw-b", openStore("gw-b"), { own: new StaticOwnAddresses(["203.0.113.10"]) });
    const { store, r } = lead(b, 300);
    await r.becomeLeader();
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN));
    const { revision } = mustWrite(store, (tx) => deleteEgressIp(tx, "203.0.113.11"));
    const [outcome] = await held(r.replicate(revision, "revocation"));
    assert.equal(outcome?.outcome, "timeout");
    assert.equal(outcome?.status, "refused");
  });
});
