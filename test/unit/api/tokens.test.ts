import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { expectProblem, expectStatus, Harness, tenants } from "./harness.js";

async function withCluster(): Promise<Harness> {
  const h = new Harness();
  await expectStatus(await h.admin("POST", "/v1/clusters", { name: "alpha", sourceRanges: ["10.244.0.0/16"] }), 201);
  return h;
}

describe("/v1/clusters/{name}/tokens", () => {
  it("shows a new token once, with the egw_ prefix, and never again", async () => {
    const h = await withCluster();
    const response = await h.admin("POST", "/v1/clusters/alpha/tokens", { description: "ci" });
    const issued = await expectStatus(response, 201);
    assert.equal(response.headers.get("Cache-Control"), "no-store");
    assert.match(issued.token, /^egw_[A-Za-z0-9_-]{40,}$/);
    assert.match(issued.id, /^[0-9a-f]{12}$/);
    assert.equal(issued.cluster, "alpha");
    assert.equal(issued.description, "ci");
    assert.equal(issued.revokedAt, null);
    assert.ok(!Number.isNaN(Date.parse(issued.createdAt)));

    const listResponse = await h.admin("GET", "/v1/clusters/alpha/tokens");
    const listText = await listResponse.text();
    assert.equal(listResponse.status, 200);
    assert.ok(!listText.includes(issued.token), "the list must not contain the secret");
    assert.ok(!listText.includes(issued.token.slice(4)), "the list must not contain the secret without its prefix");
    const list = JSON.parse(listText);
    assert.deepEqual(list, { tokens: [{ id: issued.id, cluster: "alpha", description: "ci", createdAt: issued.createdAt, revokedAt: null }], next: null });

    // Only a hash is stored; the secret appears nowhere in the database, audit log included.
    const everything = JSON.stringify(h.snapshot());
    assert.ok(!everything.includes(issued.token.slice(4)), "the secret must not be stored");
    const audit = h.audit().at(-1);
    assert.equal(audit?.action, "create");
    assert.equal(audit?.resource, `clusters/alpha/tokens/${issued.id}`);
    assert.equal(audit?.actor, "admin");
  });

  it("issues a token without a description from an empty object", async () => {
    const h = await withCluster();
    const issued = await expectStatus(await h.admin("POST", "/v1/clusters/alpha/tokens", {}), 201);
    assert.equal(issued.description, "");
    assert.match(issued.token, /^egw_/);
  });

  it("issues distinct tokens and ids each time", async () => {
    const h = await withCluster();
    const a = await expectStatus(await h.admin("POST", "/v1/clusters/alpha/tokens", {}), 201);
    const b = await expectStatus(await h.admin("POST", "/v1/clusters/alpha/tokens", {}), 201);
    assert.notEqual(a.token, b.token);
    assert.notEqual(a.id, b.id);
    assert.equal((await expectStatus(await h.admin("GET", "/v1/clusters/alpha/tokens"), 200)).tokens.length, 2);
  });

  it("revokes a token: 200 with revokedAt, audited, and the token is refused at once", async () => {
    const { h, alpha } = await tenants();
    const before = h.revision();
    const response = await h.admin("DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`);
    const revoked = await expectStatus(response, 200);
    assert.equal(revoked.id, alpha.id);
    assert.ok(revoked.revokedAt !== null && !Number.isNaN(Date.parse(revoked.revokedAt)));
    assert.equal(revoked.token, undefined);
    assert.equal(h.revision(), before + 1);
    const audit = h.audit().at(-1);
    assert.equal(audit?.action, "revoke");
    assert.equal(audit?.resource, `clusters/alpha/tokens/${alpha.id}`);
    assert.equal(JSON.parse(audit?.before ?? "null").revokedAt, null);
    assert.equal(JSON.parse(audit?.after ?? "null").revokedAt, revoked.revokedAt);
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/routes"), 401, "unauthorized");
    const list = await expectStatus(await h.admin("GET", "/v1/clusters/alpha/tokens"), 200);
    assert.equal(list.tokens[0].revokedAt, revoked.revokedAt, "a revoked token stays listed, marked revoked");
  });

  it("treats revoking a revoked token as a no-op (200, same revokedAt, no new revision)", async () => {
    const { h, alpha } = await tenants();
    const first = await expectStatus(await h.admin("DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`), 200);
    const response = await h.unchanged(() => h.admin("DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`));
    assert.equal((await expectStatus(response, 200)).revokedAt, first.revokedAt);
  });

  it("answers 404 for an unknown token id or another cluster's token id, changing nothing", async () => {
    const { h, beta } = await tenants();
    await expectProblem(await h.unchanged(() => h.admin("DELETE", "/v1/clusters/alpha/tokens/0123456789ab")), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.admin("DELETE", `/v1/clusters/alpha/tokens/${beta.id}`)), 404, "not-found");
    await expectStatus(await h.as(beta.token, "GET", "/v1/clusters/beta/mappings"), 200);
  });

  it("answers 422 for a token id that is not 12 hex digits, changing nothing", async () => {
    const { h } = await tenants();
    await expectProblem(await h.unchanged(() => h.admin("DELETE", "/v1/clusters/alpha/tokens/XYZ")), 422, "validation-failed", "id");
  });

  it("answers 404 when issuing or listing tokens for an unknown cluster, changing nothing", async () => {
    const h = new Harness();
    await expectProblem(await h.unchanged(() => h.admin("POST", "/v1/clusters/ghost/tokens", {})), 404, "not-found");
    await expectProblem(await h.admin("GET", "/v1/clusters/ghost/tokens"), 404, "not-found");
  });

  it("refuses a token description with control characters or unknown fields with 422, changing nothing", async () => {
    const h = await withCluster();
    await expectProblem(await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/tokens", { description: "a\nb" })), 422, "validation-failed", "description");
    await expectProblem(await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/tokens", { scope: "admin" })), 422, "validation-failed", "scope");
  });
});
