import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { erp, expectProblem, expectStatus, Harness, tenants } from "./harness.js";

const crm = { name: "crm", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11" };

describe("ETag and If-Match", () => {
  it("answers every GET with a strong, quoted ETag that changes only when that resource changes", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const list = await h.admin("GET", "/v1/clusters/alpha/mappings");
    const item = await h.admin("GET", "/v1/clusters/alpha/mappings/erp");
    const listTag = list.headers.get("ETag");
    const itemTag = item.headers.get("ETag");
    assert.match(listTag ?? "", /^"[A-Za-z0-9_-]{20,}"$/);
    assert.match(itemTag ?? "", /^"[A-Za-z0-9_-]{20,}"$/);
    assert.notEqual(listTag, itemTag);
    // A write to another cluster moves the store's revision but not this cluster's tags.
    await expectStatus(await h.admin("POST", "/v1/clusters/beta/mappings", { name: "web", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.20" }), 201);
    assert.equal((await h.admin("GET", "/v1/clusters/alpha/mappings")).headers.get("ETag"), listTag);
    assert.equal((await h.admin("GET", "/v1/clusters/alpha/mappings/erp")).headers.get("ETag"), itemTag);
    // Another mapping of the same cluster changes the list's tag, not the item's.
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", crm), 201);
    assert.notEqual((await h.admin("GET", "/v1/clusters/alpha/mappings")).headers.get("ETag"), listTag);
    assert.equal((await h.admin("GET", "/v1/clusters/alpha/mappings/erp")).headers.get("ETag"), itemTag);
    for (const path of ["/v1/egress-ips", "/v1/egress-ips/203.0.113.10", "/v1/clusters", "/v1/clusters/alpha", "/v1/clusters/alpha/routes",
      "/v1/clusters/alpha/tokens", "/v1/clusters/alpha/status", "/v1/status"]) {
      assert.match((await h.admin("GET", path)).headers.get("ETag") ?? "", /^"/, `${path} has no ETag`);
    }
  });

  it("answers 304 to If-None-Match with the current ETag", async () => {
    const { h } = await tenants();
    const first = await h.admin("GET", "/v1/clusters/alpha");
    const tag = first.headers.get("ETag") as string;
    const again = await h.admin("GET", "/v1/clusters/alpha", undefined, { "If-None-Match": tag });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get("ETag"), tag);
    assert.equal(await again.text(), "");
    assert.equal((await h.admin("GET", "/v1/clusters/alpha", undefined, { "If-None-Match": '"stale"' })).status, 200);
  });

  it("writes with a matching If-Match and answers the new ETag, which the next GET confirms", async () => {
    const { h } = await tenants();
    const tag = (await h.admin("GET", "/v1/clusters/alpha/mappings")).headers.get("ETag") as string;
    const put = await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp()] }, { "If-Match": tag });
    await expectStatus(put, 200);
    const after = (await h.admin("GET", "/v1/clusters/alpha/mappings")).headers.get("ETag");
    assert.equal(put.headers.get("ETag"), after);
    assert.notEqual(after, tag);
    // A list of tags holds when one of them is current.
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp(), crm] }, { "If-Match": `"other", ${after}` }), 200);
  });

  it("refuses a write whose If-Match is stale with 412 precondition-failed, naming the current ETag, and changes nothing", async () => {
    const { h } = await tenants();
    // A tag of a representation no resource has now (tags are per resource: an empty list of routes and an
    // empty list of mappings have the same one, as HTTP allows).
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", { ...erp(), name: "old" }), 201);
    const stale = (await h.admin("GET", "/v1/clusters/alpha/mappings")).headers.get("ETag") as string;
    await expectStatus(await h.admin("DELETE", "/v1/clusters/alpha/mappings/old"), 204);
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const current = (await h.admin("GET", "/v1/clusters/alpha/mappings")).headers.get("ETag");
    const writes: [string, string, unknown][] = [
      ["PUT", "/v1/clusters/alpha/mappings", { mappings: [crm] }],
      ["POST", "/v1/clusters/alpha/mappings", crm],
      ["PUT", "/v1/clusters/alpha/mappings/erp", { ...erp(), egressIp: "203.0.113.11" }],
      ["PATCH", "/v1/clusters/alpha/mappings/erp", { egressIp: "203.0.113.11" }],
      ["DELETE", "/v1/clusters/alpha/mappings/erp", undefined],
      ["PUT", "/v1/clusters/alpha", { sourceRanges: ["10.244.0.0/16"] }],
      ["DELETE", "/v1/clusters/beta", undefined],
      ["POST", "/v1/egress-ips", { address: "203.0.113.99" }],
      ["PATCH", "/v1/egress-ips/203.0.113.10", { description: "x" }],
      ["PUT", "/v1/clusters/alpha/routes", { routes: [] }],
      ["POST", "/v1/clusters/alpha/tokens", {}],
      ["PUT", "/v1/policy-floor", { rules: [] }],
    ];
    for (const [method, path, body] of writes) {
      const response = await h.unchanged(() => h.admin(method, path, body, { "If-Match": stale }));
      const problem = await expectProblem(response, 412, "precondition-failed", "If-Match");
      assert.ok(problem.detail.includes(stale), `${method} ${path}: ${problem.detail}`);
    }
    const refused = await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [crm] }, { "If-Match": stale });
    assert.equal(refused.headers.get("ETag"), current);
    // A weak tag never matches (If-Match compares strongly).
    await expectProblem(await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [crm] }, { "If-Match": `W/${current}` })), 412, "precondition-failed");
  });

  it("takes If-Match: * as \"exists\": a PUT of a missing mapping is refused, of an existing one allowed", async () => {
    const { h } = await tenants();
    await expectProblem(await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings/erp", erp(), { "If-Match": "*" })), 412, "precondition-failed");
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings/erp", erp()), 201);
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings/erp", erp({ egressIp: "203.0.113.11" }), { "If-Match": "*" }), 200);
  });

  it("lets exactly one of two writers with the same If-Match win; the other gets 412 and the store holds the winner's set", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const tag = (await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp")).headers.get("ETag") as string;
    // Both requests are in flight together and share one group commit (Store.writeBatched): the check runs in each write's savepoint.
    const [first, second] = await Promise.all([
      h.admin("PUT", "/v1/clusters/alpha/mappings/erp", erp({ egressIp: "203.0.113.11" }), { "If-Match": tag }),
      h.admin("PATCH", "/v1/clusters/alpha/mappings/erp", { destinations: ["198.51.100.0/24"] }, { "If-Match": tag }),
    ]);
    const statuses = [first.status, second.status].sort();
    assert.deepEqual(statuses, [200, 412]);
    const winner = first.status === 200 ? await first.json() : await second.json();
    const stored = await expectStatus(await h.admin("GET", "/v1/clusters/alpha/mappings/erp"), 200);
    assert.deepEqual(stored, winner);
  });

  it("gives a cluster a tag of its own fields only: its mappings and this gateway's quota defaults leave it as it was, its grants change it", async () => {
    const { h, alpha } = await tenants();
    const read = async (path: string) => (await h.admin("GET", path)).headers.get("ETag") as string;
    const [itemTag, listTag] = [await read("/v1/clusters/alpha"), await read("/v1/clusters")];
    const before = await expectStatus(await h.admin("GET", "/v1/clusters/alpha"), 200);
    // The cluster's own controller adds a mapping: the usage the answer shows changes, the tag does not.
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const after = await expectStatus(await h.admin("GET", "/v1/clusters/alpha"), 200);
    assert.notDeepEqual(after.usage, before.usage);
    assert.equal(await read("/v1/clusters/alpha"), itemTag);
    assert.equal(await read("/v1/clusters"), listTag);
    assert.equal((await h.admin("GET", "/v1/clusters/alpha", undefined, { "If-None-Match": itemTag })).status, 304);
    // So the admin's update with the tag it read before the mapping still goes through…
    const grants = { description: after.description, sourceRanges: after.sourceRanges, egressIps: after.egressIps, excludableDestinations: after.excludableDestinations, quotas: after.quotas };
    const put = await h.admin("PUT", "/v1/clusters/alpha", { ...grants, egressIps: ["203.0.113.10", "2001:db8::10"] }, { "If-Match": itemTag });
    await expectStatus(put, 200);
    // …and changes the tag, which the answer and the next GET carry; the old one is refused now.
    const changed = await read("/v1/clusters/alpha");
    assert.notEqual(changed, itemTag);
    assert.equal(put.headers.get("ETag"), changed);
    assert.notEqual(await read("/v1/clusters"), listTag);
    await expectProblem(await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha", grants, { "If-Match": itemTag })), 412, "precondition-failed", "If-Match");
    // A gateway whose quota defaults differ shows other quotas in force for the same cluster, under the same tag.
    const other = (await tenants(new Harness({ quotas: { mappings: 7 } }))).h;
    const there = await other.admin("GET", "/v1/clusters/beta");
    assert.notDeepEqual((await expectStatus(there.clone(), 200)).effectiveQuotas, (await expectStatus(await h.admin("GET", "/v1/clusters/beta"), 200)).effectiveQuotas);
    assert.equal(there.headers.get("ETag"), await read("/v1/clusters/beta"));
  });

  it("checks a write forwarded by a backup against the leader's state: If-Match is among the forwarded headers", async () => {
    const { FORWARDED_HEADERS } = await import("../../../appliance/replication/peer-client.js");
    assert.ok(FORWARDED_HEADERS.includes("if-match"));
  });
});
