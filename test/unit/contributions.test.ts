import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EgressPolicy, Mapping } from "../../appliance/model.js";
import { stillWanted, type Contribution } from "../../appliance/reconcile/contributions.js";

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
