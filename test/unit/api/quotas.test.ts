import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { erp, expectProblem, expectStatus, grantExclusions, Harness, reasonFor, tenants } from "./harness.js";

const mapping = (i: number, more: Record<string, unknown> = {}) =>
  ({ name: `m${i}`, sourceCidr: `10.244.${i}.0/24`, egressIp: "203.0.113.10", ...more });
const route = (i: number) => ({ prefix: `10.244.${i}.0/24`, via: "172.31.0.11" });

/** alpha and beta under small daemon defaults: 2 mappings, 1 route, 3 destination prefixes. */
const small = () => tenants(new Harness({ quotas: { mappings: 2, routes: 1, destinations: 3 } }));

describe("per-cluster quotas", () => {
  it("refuses a mapping set over the mappings quota with 403 quota-exceeded naming the quota and the numbers, changing nothing", async () => {
    const { h, alpha } = await small();
    const response = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [mapping(1), mapping(2), mapping(3)] }));
    const problem = await expectProblem(response, 403, "quota-exceeded", "quotas.mappings");
    assert.deepEqual(problem.quota, { name: "mappings", limit: 2, current: 0, requested: 3 });
    assert.match(problem.detail, /mappings quota of cluster alpha is 2; this would make 3/);
    assert.equal(problem.title, "The cluster's quota does not allow this");
  });

  it("refuses one mapping more than the quota with POST", async () => {
    const { h, alpha } = await small();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [mapping(1), mapping(2)] }), 200);
    const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", mapping(3)));
    const problem = await expectProblem(response, 403, "quota-exceeded", "quotas.mappings");
    assert.deepEqual(problem.quota, { name: "mappings", limit: 2, current: 2, requested: 3 });
  });

  it("counts destination and excluded-destination prefixes over all the cluster's mappings", async () => {
    const { h, alpha } = await small();
    await grantExclusions(h, "alpha", ["10.0.0.0/8"]);
    const put = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", {
      mappings: [mapping(1, { destinations: ["192.0.2.0/24", "198.51.100.0/24"] }), mapping(2, { excludedDestinations: ["10.1.0.0/16", "10.2.0.0/16"] })],
    }));
    const problem = await expectProblem(put, 403, "quota-exceeded", "quotas.destinations");
    assert.deepEqual(problem.quota, { name: "destinations", limit: 3, current: 0, requested: 4 });
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings",
      { mappings: [mapping(1, { destinations: ["192.0.2.0/24", "198.51.100.0/24"] })] }), 200);
    const post = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", mapping(2, { excludedDestinations: ["10.1.0.0/16", "10.2.0.0/16"] })));
    await expectProblem(post, 403, "quota-exceeded", "quotas.destinations");
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", mapping(2, { excludedDestinations: ["10.1.0.0/16"] })), 201);
  });

  it("refuses routes over the routes quota, by PUT and by POST", async () => {
    const { h, alpha } = await small();
    const put = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/routes", { routes: [route(1), route(2)] }));
    const problem = await expectProblem(put, 403, "quota-exceeded", "quotas.routes");
    assert.deepEqual(problem.quota, { name: "routes", limit: 1, current: 0, requested: 2 });
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", route(1)), 201);
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", route(2))), 403, "quota-exceeded", "quotas.routes");
  });

  it("counts each cluster on its own", async () => {
    const { h, alpha, beta } = await small();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [mapping(1), mapping(2)] }), 200);
    await expectStatus(await h.as(beta.token, "PUT", "/v1/clusters/beta/mappings",
      { mappings: [{ name: "a", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.20" }, { name: "b", sourceCidr: "10.245.2.0/24", egressIp: "203.0.113.20" }] }), 200);
  });

  it("lets the admin override each quota per cluster; GET shows the overrides, the quotas in force and the usage", async () => {
    const { h, alpha } = await small();
    await grantExclusions(h, "alpha", ["10.0.0.0/8"], { mappings: 4 });
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", {
      mappings: [mapping(1, { destinations: ["192.0.2.0/24"] }), mapping(2, { excludedDestinations: ["10.1.0.0/16"] }), mapping(3), mapping(4)],
    }), 200);
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", route(1)), 201);
    const shown = await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha"), 200);
    assert.deepEqual(shown.quotas, { mappings: 4 });
    assert.deepEqual(shown.effectiveQuotas, { mappings: 4, routes: 1, destinations: 3 });
    assert.deepEqual(shown.usage, { mappings: 4, routes: 1, destinations: 2 });
    const beta = await expectStatus(await h.admin("GET", "/v1/clusters/beta"), 200);
    assert.deepEqual([beta.quotas, beta.effectiveQuotas], [{}, { mappings: 2, routes: 1, destinations: 3 }]);
  });

  it("lets the admin lower a quota below usage: nothing is removed, the set can be re-sent or shrunk but not grown", async () => {
    const { h, alpha } = await small();
    const set = { mappings: [mapping(1), mapping(2)] };
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", set), 200);
    await grantExclusions(h, "alpha", [], { mappings: 1 });
    const again = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", set));
    await expectStatus(again, 200);
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [mapping(1), mapping(3)] }), 200);
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", mapping(4))), 403, "quota-exceeded");
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [mapping(1)] }), 200);
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", set)), 403, "quota-exceeded");
  });

  it("refuses quota overrides that are not whole numbers from 1 to 1,000,000, or unknown (422), changing nothing", async () => {
    const { h } = await tenants();
    const cases: [unknown, string][] = [
      [{ mappings: 0 }, "quotas.mappings"], [{ routes: 1_000_001 }, "quotas.routes"], [{ destinations: 2.5 }, "quotas.destinations"],
      [{ destinations: -1 }, "quotas.destinations"], [{ mappings: "10" }, "quotas.mappings"], [{ tokens: 5 }, "quotas.tokens"],
    ];
    for (const [quotas, field] of cases) {
      const response = await h.unchanged(() => h.admin("POST", "/v1/clusters", { name: "gamma", quotas }));
      await expectProblem(response, 422, "validation-failed", field);
    }
    const max = await expectStatus(await h.admin("POST", "/v1/clusters", { name: "gamma", quotas: { mappings: 1, routes: 1_000_000 } }), 201);
    assert.deepEqual(max.quotas, { mappings: 1, routes: 1_000_000 });
  });

  it("audits a quota change like any other change of the cluster", async () => {
    const { h } = await tenants();
    await grantExclusions(h, "beta", [], { routes: 7 });
    const audit = h.audit().at(-1);
    assert.equal(audit?.resource, "clusters/beta");
    assert.deepEqual([JSON.parse(audit?.before ?? "null").quotas, JSON.parse(audit?.after ?? "null").quotas], [{}, { routes: 7 }]);
  });

  it("is checked before the mappings are parsed, so an oversized set is refused cheaply", async () => {
    const { h } = await small();
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings",
      { mappings: [erp(), mapping(2), { name: "bad", sourceCidr: "not a cidr", egressIp: "203.0.113.99" }] }));
    const problem = await expectProblem(response, 403, "quota-exceeded");
    assert.match(reasonFor(problem, "quotas.mappings"), /is 2; this would make 3/);
  });
});
