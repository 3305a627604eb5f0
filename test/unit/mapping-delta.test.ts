import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Mapping } from "../../appliance/model.js";
import { desiredSets, emptySets, type NftState, type SetName } from "../../appliance/nft/state.js";
import { mappingStateChanges } from "../../appliance/reconcile/mapping-delta.js";

const mapping = (name: string, sourceCidr: string, extra: Partial<Mapping> = {}): Mapping => ({
  cluster: "prod", name, sourceCidr, egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: {}, ...extra,
});

const stateOf = (mappings: Mapping[]): NftState => ({ ...desiredSets(mappings, []), chains: {}, ruleForms: {} });

describe("mappingStateChanges: the elements a change of mappings alone moves", () => {
  it("removes a changed value and adds the new one, and leaves an unchanged element alone", () => {
    const web = mapping("web", "10.244.1.0/24", { destinations: ["198.51.100.0/24", "192.0.2.0/24"] });
    const changes = mappingStateChanges(stateOf([web]), [{ before: { mapping: web }, after: { mapping: { ...web, destinations: ["198.51.100.0/24", "192.0.2.128/25"], labels: { a: "b" } } } }]);
    assert.deepEqual(changes?.sets, [{ name: "snat_dst_v4", removed: [["10.244.1.0/24 . 192.0.2.0/24", "203.0.113.10"]], added: [["10.244.1.0/24 . 192.0.2.128/25", "203.0.113.10"]] }]);
  });

  it("gives up (undefined) when the realized state lacks an element of a mapping's old version", () => {
    const web = mapping("web", "10.244.1.0/24");
    const realized: NftState = { sets: emptySets(), counters: new Set(), chains: {}, ruleForms: {} };
    assert.equal(mappingStateChanges(realized, [{ before: { mapping: web }, after: undefined }]), undefined);
  });

  it("gives up when a new element's key is held by something that stays", () => {
    const stays = mapping("stays", "10.244.1.0/24");
    assert.equal(mappingStateChanges(stateOf([stays]), [{ before: undefined, after: { mapping: mapping("new", "10.244.1.0/24", { egressIp: "203.0.113.11" }) } }]), undefined);
  });

  it("moves a source from one mapping to another in one change (a whole-set PUT that renamed it)", () => {
    const old = mapping("old", "10.244.1.0/24");
    const renamed = mapping("new", "10.244.1.0/24", { egressIp: "203.0.113.11" });
    const changes = mappingStateChanges(stateOf([old]), [{ before: { mapping: old }, after: undefined }, { before: undefined, after: { mapping: renamed } }]);
    assert.deepEqual(changes?.sets, [{ name: "snat_v4", removed: [["10.244.1.0/24", "203.0.113.10"]], added: [["10.244.1.0/24", "203.0.113.11"]] }]);
  });

  it("adds and removes a policy's counters with its elements, and gives up on a counter the realized state lacks", () => {
    const web = mapping("web", "10.244.1.0/24");
    const realized = stateOf([web]);
    const policy = { elements: [["policy_verdict_v4", "10.244.1.0-10.244.1.255", "{\"accept\":null}"]] as [SetName, string, string][], counters: ["pu_x", "pr_x_0"] };
    const added = mappingStateChanges(realized, [{ before: { mapping: web }, after: { mapping: web, policy } }]);
    assert.deepEqual(added?.counters, { added: ["pr_x_0", "pu_x"], removed: [] });
    assert.deepEqual(added?.sets, [{ name: "policy_verdict_v4", removed: [], added: [["10.244.1.0-10.244.1.255", "{\"accept\":null}"]] }]);
    assert.equal(mappingStateChanges(realized, [{ before: { mapping: web, policy }, after: { mapping: web } }]), undefined, "the realized state holds no such policy");
    realized.counters.add("pu_x").add("pr_x_0");
    realized.sets.policy_verdict_v4.set("10.244.1.0-10.244.1.255", "{\"accept\":null}");
    const removed = mappingStateChanges(realized, [{ before: { mapping: web, policy }, after: { mapping: web, policy: { ...policy, counters: ["pu_x"] } } }]);
    assert.deepEqual(removed?.counters, { added: [], removed: ["pr_x_0"] });
    assert.deepEqual(removed?.sets, []);
  });
});
