import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { erp, expectProblem, expectStatus, grantExclusions, tenants } from "./harness.js";

describe("PUT and PATCH of one mapping", () => {
  it("creates with PUT (201, Location), replaces in place (200, one revision, one audit record), and is idempotent", async () => {
    const { h, alpha } = await tenants();
    const created = await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp", erp());
    assert.equal(created.headers.get("Location"), "/v1/clusters/alpha/mappings/erp");
    assert.equal((await expectStatus(created, 201)).egressIp, "203.0.113.10");
    const before = h.revision();
    const replaced = await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp", { sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.11", destinations: ["198.51.100.0/24"] });
    const body = await expectStatus(replaced, 200);
    assert.deepEqual(body, { name: "erp", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.11", destinations: ["198.51.100.0/24"], excludedDestinations: [], labels: {} });
    assert.equal(h.revision(), before + 1);
    assert.equal(h.commits.at(-1), before + 1);
    const audit = h.audit().at(-1);
    assert.equal(audit?.action, "update");
    assert.equal(audit?.resource, "clusters/alpha/mappings/erp");
    assert.equal(JSON.parse(audit?.before ?? "{}").egressIp, "203.0.113.10");
    assert.equal(JSON.parse(audit?.after ?? "{}").egressIp, "203.0.113.11");
    const again = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp", { sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.11", destinations: ["198.51.100.0/24"] }));
    await expectStatus(again, 200);
  });

  it("changes only what a merge patch names, as application/merge-patch+json or application/json; null removes", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp({ destinations: ["198.51.100.0/24"], labels: { namespace: "erp", app: "billing" } })), 201);
    const patched = await h.call("PATCH", "/v1/clusters/alpha/mappings/erp", {
      token: (await import("./harness.js")).ADMIN_TOKEN, body: { egressIp: "203.0.113.11", labels: { app: null, tier: "db" } },
      headers: { "content-type": "application/merge-patch+json" },
    });
    const body = await expectStatus(patched, 200);
    assert.deepEqual(body, { name: "erp", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.11", destinations: ["198.51.100.0/24"], excludedDestinations: [], labels: { namespace: "erp", tier: "db" } });
    const cleared = await expectStatus(await h.admin("PATCH", "/v1/clusters/alpha/mappings/erp", { destinations: null }), 200);
    assert.deepEqual(cleared.destinations, []);
    assert.equal(cleared.egressIp, "203.0.113.11");
  });

  it("keeps every rule of a create: grants (403), overlaps (409), quotas (403), bad values (422), unknown mapping (404) — and changes nothing", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", { name: "crm", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11" }), 201);
    await expectStatus(await h.admin("POST", "/v1/clusters/beta/mappings", { name: "web", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.20" }), 201);
    const patch = (body: unknown) => h.unchanged(() => h.as(alpha.token, "PATCH", "/v1/clusters/alpha/mappings/erp", body));
    await expectProblem(await patch({ egressIp: "203.0.113.20" }), 403, "not-owned", "egressIp");
    await expectProblem(await patch({ sourceCidr: "10.245.1.0/24" }), 403, "not-owned", "sourceCidr");
    await expectProblem(await patch({ sourceCidr: "10.244.2.0/25" }), 409, "overlap", "sourceCidr");
    await expectProblem(await patch({ sourceCidr: "10.244.1.1/26" }), 422, "validation-failed", "sourceCidr");
    await expectProblem(await patch({ egressIp: "2001:db8::10" }), 422, "validation-failed", "egressIp");
    await expectProblem(await patch({ color: "red" }), 422, "validation-failed");
    await expectProblem(await patch({ sourceCidr: null }), 422, "validation-failed", "sourceCidr");
    await expectProblem(await patch([]), 422, "validation-failed");
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "PATCH", "/v1/clusters/alpha/mappings/nope", { egressIp: "203.0.113.11" })), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp", erp({ name: "other" }))), 422, "validation-failed", "name");
    // Its own source is not an overlap: moving within itself is allowed.
    await expectStatus(await h.as(alpha.token, "PATCH", "/v1/clusters/alpha/mappings/erp", { sourceCidr: "10.244.1.0/27" }), 200);
    // Another cluster's mapping is out of reach.
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "PATCH", "/v1/clusters/beta/mappings/web", { egressIp: "203.0.113.10" })), 403, "forbidden");
  });

  it("counts the destinations quota without the mapping's old self", async () => {
    const { h } = await tenants();
    await grantExclusions(h, "alpha", [], { destinations: 2 });
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp({ destinations: ["198.51.100.0/24", "192.0.2.0/24"] })), 201);
    await expectStatus(await h.admin("PATCH", "/v1/clusters/alpha/mappings/erp", { destinations: ["198.51.100.0/25", "192.0.2.0/25"] }), 200);
    await expectProblem(await h.unchanged(() => h.admin("PATCH", "/v1/clusters/alpha/mappings/erp", { destinations: ["198.51.100.0/25", "192.0.2.0/25", "203.0.113.0/25"] })),
      403, "quota-exceeded");
  });

  it("refuses a PATCH body that is neither merge-patch+json nor json with 415", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const response = await h.unchanged(() => h.call("PATCH", "/v1/clusters/alpha/mappings/erp", {
      token: "admin-token-0123456789abcdef0123456789abcdef", body: "egressIp=203.0.113.11", headers: { "content-type": "application/x-www-form-urlencoded" },
    }));
    await expectProblem(response, 415, "unsupported-media-type");
  });
});

describe("GET of one mapping read again", () => {
  // Each case reads the mapping first, so that its answer is known to the API when the mapping changes.
  it("answers what the store holds after a write: the new body and a new ETag, and 304 only for the current one", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp", erp()), 201);
    const first = await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp");
    const tag = first.headers.get("ETag") ?? "";
    assert.equal((await expectStatus(first, 200)).egressIp, "203.0.113.10");
    assert.equal(first.headers.get("Content-Type"), "application/json");
    const unchanged = await h.call("GET", "/v1/clusters/alpha/mappings/erp", { token: alpha.token, headers: { "if-none-match": tag } });
    assert.equal(unchanged.status, 304);
    await expectStatus(await h.as(alpha.token, "PATCH", "/v1/clusters/alpha/mappings/erp", { egressIp: "203.0.113.11" }), 200);
    const changed = await h.call("GET", "/v1/clusters/alpha/mappings/erp", { token: alpha.token, headers: { "if-none-match": tag } });
    assert.equal((await expectStatus(changed, 200)).egressIp, "203.0.113.11");
    assert.notEqual(changed.headers.get("ETag"), tag);
    await expectStatus(await h.as(alpha.token, "DELETE", "/v1/clusters/alpha/mappings/erp"), 204);
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp"), 404, "not-found");
  });

  it("answers what a replicated revision changed on the very next request", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp", erp()), 201);
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp"), 200);
    // What a follower does with the leader's change: rows changed in one transaction, then announced.
    h.store.applyExternal(h.revision() + 1, () => {
      h.db.prepare("UPDATE revision SET value = value + 1 WHERE id = 1").run();
      h.db.prepare("UPDATE mappings SET egress_ip = ? WHERE cluster = ? AND name = ?").run("203.0.113.11", "alpha", "erp");
    });
    assert.equal((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp"), 200)).egressIp, "203.0.113.11");
  });

  it("never answers one cluster's mapping for another's of the same name, nor to another cluster's token", async () => {
    const { h, alpha, beta } = await tenants();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp", erp()), 201);
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp"), 200);
    await expectProblem(await h.as(beta.token, "GET", "/v1/clusters/alpha/mappings/erp"), 403, "forbidden");
    await expectProblem(await h.as(beta.token, "GET", "/v1/clusters/beta/mappings/erp"), 404, "not-found");
  });
});
