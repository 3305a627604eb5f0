import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EgressPolicy, Mapping } from "../../appliance/model.js";
import { parsePrefix } from "../../appliance/net/cidr.js";
import { mergeInStoreOrder, policiesInMappingOrder, stillWanted, type Contribution } from "../../appliance/reconcile/contributions.js";
import { seededRandom } from "../helpers/random.js";

const mapping = (name: string, sourceCidr: string): Mapping =>
  ({ cluster: "prod", name, sourceCidr, egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: {} });
const policy = (cidr: string): EgressPolicy => ({ mode: "enforce", defaultAction: "deny", rules: [{ description: "", destinations: [{ cidr }], ports: [] }] });
const contribution = (policies: [Mapping, EgressPolicy][], plain: Mapping[] = []): Contribution => ({
  mappings: [...policies.map(([m]) => m), ...plain],
  policies: policies.map(([m, p]) => ({ cluster: "prod", mapping: m.name, sourceCidr: m.sourceCidr, policy: p })),
  claimed: ["10.244.0.0/16"], bound: [],
});

describe("stillWanted: what of a held-back cluster's last good state stays in force", () => {
  const web = mapping("web", "10.244.1.0/26");
  const db = mapping("db", "10.244.1.64/26");

  it("keeps a mapping with the policy it had when both are still wanted unchanged", () => {
    const good = contribution([[web, policy("198.51.100.0/24")]], [db]);
    assert.deepEqual(stillWanted(good, good), good);
  });

  it("withdraws a mapping whose policy changed, and holds its source to nothing meanwhile (unmapped traffic may be masqueraded)", () => {
    const good = contribution([[web, policy("198.51.100.0/24")]], [db]);
    const kept = stillWanted(good, contribution([[web, policy("192.0.2.0/24")]], [db]));
    assert.deepEqual(kept?.mappings.map((m) => m.name), ["db"]);
    assert.deepEqual(kept?.policies, [{ cluster: "prod", mapping: "web", sourceCidr: "10.244.1.0/26", policy: { mode: "enforce", defaultAction: "deny", rules: [] } }]);
  });

  it("holds no source the cluster no longer claims, and never two that overlap", () => {
    const good = contribution([[web, policy("198.51.100.0/24")]]);
    const moved = contribution([[mapping("web", "10.244.1.0/25"), policy("192.0.2.0/24")]]);
    assert.deepEqual(stillWanted(good, moved)?.policies.map((p) => p.sourceCidr), ["10.244.1.0/26"], "the wider new source overlaps the old: only one stub");
    const released = stillWanted(good, { ...contribution([[web, policy("192.0.2.0/24")]]), claimed: ["10.250.0.0/16"] });
    assert.deepEqual(released?.policies, [], "a range the admin took away is no longer this cluster's to hold");
  });

  it("withdraws a mapping whose policy was removed, and one that gained a policy", () => {
    const good = contribution([[web, policy("198.51.100.0/24")]], [db]);
    assert.deepEqual(stillWanted(good, contribution([], [web, db]))?.mappings.map((m) => m.name), ["db"]);
    const gained = stillWanted(contribution([], [web, db]), contribution([[db, policy("192.0.2.0/24")]], [web]));
    assert.deepEqual(gained?.mappings.map((m) => m.name), ["web"]);
  });
});

describe("mergeInStoreOrder: a patched last-good contribution keeps the store's order", () => {
  it("puts added mappings where a full read (family, then source start) would list them", () => {
    const random = seededRandom(3);
    const make = (i: number, v6: boolean): Mapping => ({
      cluster: "prod", name: `m${i}`, egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: {},
      sourceCidr: v6 ? `fd00:${i.toString(16)}::/64` : `10.${Math.floor(i / 250)}.${i % 250}.0/24`,
    });
    for (let round = 0; round < 20; round++) {
      const all = Array.from({ length: 60 }, (_, i) => make(i * 7 + round, random() < 0.3));
      const order = (m: Mapping) => { const p = parsePrefix(m.sourceCidr, "x"); return [p.family, p.start] as const; };
      const sorted = [...all].sort((a, b) => { const [fa, sa] = order(a); const [fb, sb] = order(b); return fa - fb || (sa < sb ? -1 : sa > sb ? 1 : 0); });
      const added = all.filter(() => random() < 0.2);
      const kept = sorted.filter((m) => !added.includes(m));
      assert.deepEqual(mergeInStoreOrder(kept, added).map((m) => m.name), sorted.map((m) => m.name));
    }
  });

  it("lists policies in the order of the mappings they govern", () => {
    const governing = (mapping: string) => ({ cluster: "prod", mapping, sourceCidr: "10.0.0.0/24", policy: policy("198.51.100.0/24") });
    const mappings = ["b", "c", "a"].map((name) => ({ name }) as Mapping);
    assert.deepEqual(policiesInMappingOrder(mappings, [governing("a"), governing("c"), governing("gone")]).map((p) => p.mapping), ["c", "a"]);
  });
});
