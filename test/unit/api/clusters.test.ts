import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { erp, expectProblem, expectStatus, Harness, reasonFor, tenants } from "./harness.js";

const DEFAULT_QUOTAS = { mappings: 10_000, routes: 10_000, destinations: 100_000 };
const NO_USAGE = { mappings: 0, routes: 0, destinations: 0 };

async function withEgressIps(...addresses: string[]): Promise<Harness> {
  const h = new Harness();
  for (const address of addresses) await expectStatus(await h.admin("POST", "/v1/egress-ips", { address }), 201);
  return h;
}

describe("/v1/clusters", () => {
  it("creates a cluster with canonical, sorted source ranges and its egress IPs", async () => {
    const h = await withEgressIps("203.0.113.10", "2001:db8::10");
    const response = await h.admin("POST", "/v1/clusters", {
      name: "prod-eu1", description: "EU production",
      sourceRanges: ["FD00:10:244::/48", "10.244.0.0/16"], egressIps: ["2001:DB8::10", "203.0.113.10"],
    });
    const body = await expectStatus(response, 201);
    const stored = {
      name: "prod-eu1", description: "EU production",
      sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "2001:db8::10"],
      excludableDestinations: [], quotas: {},
    };
    assert.deepEqual(body, { ...stored, effectiveQuotas: DEFAULT_QUOTAS, usage: NO_USAGE });
    assert.equal(response.headers.get("Egw-Revision"), "3");
    assert.deepEqual(await expectStatus(await h.admin("GET", "/v1/clusters/prod-eu1"), 200), body);
    assert.deepEqual(await expectStatus(await h.admin("GET", "/v1/clusters"), 200), { clusters: [body], next: null });
    const audit = h.audit().at(-1);
    assert.equal(audit?.action, "create");
    assert.equal(audit?.resource, "clusters/prod-eu1");
    assert.equal(audit?.actor, "admin");
    assert.deepEqual(JSON.parse(audit?.after ?? "null"), stored, "the audit records what is stored, not this gateway's view of it");
  });

  it("creates a cluster with no grants, no exclusions and the default quotas when they are left out", async () => {
    const h = new Harness();
    const body = await expectStatus(await h.admin("POST", "/v1/clusters", { name: "bare" }), 201);
    assert.deepEqual(body, {
      name: "bare", description: "", sourceRanges: [], egressIps: [], excludableDestinations: [], quotas: {},
      effectiveQuotas: DEFAULT_QUOTAS, usage: NO_USAGE,
    });
  });

  it("refuses a source range that overlaps another cluster's with 409 overlap naming that cluster, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha", {
      description: "grown", sourceRanges: ["10.244.0.0/15"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"],
    }));
    const problem = await expectProblem(response, 409, "overlap", "sourceRanges.0");
    assert.match(problem.detail, /10\.245\.0\.0\/16/);
    assert.match(problem.detail, /beta/);
  });

  it("replaces a cluster's description and grants with PUT, recording before and after in the audit log", async () => {
    const { h } = await tenants();
    const before = h.revision();
    const response = await h.admin("PUT", "/v1/clusters/alpha", {
      description: "moved", sourceRanges: ["10.246.0.0/16"], egressIps: ["203.0.113.11", "203.0.113.30"],
    });
    const body = await expectStatus(response, 200);
    assert.deepEqual(body, {
      name: "alpha", description: "moved", sourceRanges: ["10.246.0.0/16"], egressIps: ["203.0.113.11", "203.0.113.30"],
      excludableDestinations: [], quotas: {}, effectiveQuotas: DEFAULT_QUOTAS, usage: NO_USAGE,
    });
    assert.equal(h.revision(), before + 1);
    assert.equal(response.headers.get("Egw-Revision"), String(before + 1));
    const audit = h.audit().at(-1);
    assert.equal(audit?.action, "update");
    assert.equal(audit?.resource, "clusters/alpha");
    assert.deepEqual(JSON.parse(audit?.before ?? "null").sourceRanges, ["10.244.0.0/16", "fd00:10:244::/48"]);
    assert.deepEqual(JSON.parse(audit?.after ?? "null").sourceRanges, ["10.246.0.0/16"]);
    // The released egress IPs are free again; the newly granted one is alpha's.
    assert.equal((await expectStatus(await h.admin("GET", "/v1/egress-ips/203.0.113.10"), 200)).cluster, null);
    assert.equal((await expectStatus(await h.admin("GET", "/v1/egress-ips/203.0.113.30"), 200)).cluster, "alpha");
  });

  it("does not bump the revision or audit when a PUT re-sends the same cluster", async () => {
    const { h } = await tenants();
    const revision = h.revision();
    const audits = h.auditCount();
    const response = await h.admin("PUT", "/v1/clusters/beta", { sourceRanges: ["10.245.0.0/16"], egressIps: ["203.0.113.20"] });
    await expectStatus(response, 200);
    assert.equal(response.headers.get("Egw-Revision"), String(revision));
    assert.equal(h.revision(), revision);
    assert.equal(h.auditCount(), audits);
  });

  it("leaves the store untouched when a PUT re-sends the same cluster (no unaudited updated_at rewrite)", async () => {
    const { h } = await tenants();
    await sleep(5); // so that a rewritten timestamp would differ
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/beta", { sourceRanges: ["10.245.0.0/16"], egressIps: ["203.0.113.20"] }));
    await expectStatus(response, 200);
  });

  it("refuses to grant one egress IP to two clusters with 409 conflict naming the holder, changing nothing", async () => {
    const { h } = await tenants();
    const create = await h.unchanged(() => h.admin("POST", "/v1/clusters", {
      name: "gamma", sourceRanges: ["10.246.0.0/16"], egressIps: ["203.0.113.30", "203.0.113.10"],
    }));
    const problem = await expectProblem(create, 409, "conflict", "egressIps.1");
    assert.match(problem.detail, /alpha/);
    const replace = await h.unchanged(() => h.admin("PUT", "/v1/clusters/beta", { sourceRanges: ["10.245.0.0/16"], egressIps: ["203.0.113.20", "203.0.113.11"] }));
    await expectProblem(replace, 409, "conflict", "egressIps.1");
  });

  it("refuses to grant an egress IP that does not exist with 422, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters", { name: "gamma", egressIps: ["198.51.100.77"] }));
    const problem = await expectProblem(response, 422, "validation-failed", "egressIps.0");
    assert.match(reasonFor(problem, "egressIps.0"), /does not exist/);
  });

  it("refuses overlapping source ranges within one request with 409 overlap, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters", { name: "gamma", sourceRanges: ["10.246.0.0/16", "10.246.128.0/17"] }));
    await expectProblem(response, 409, "overlap", "sourceRanges.1");
  });

  it("refuses a source range with host bits set with 422 naming the canonical CIDR, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters", { name: "gamma", sourceRanges: ["10.246.3.4/16"] }));
    const problem = await expectProblem(response, 422, "validation-failed", "sourceRanges.0");
    assert.match(reasonFor(problem, "sourceRanges.0"), /10\.246\.0\.0\/16/);
  });

  it("refuses a duplicate cluster name with 409 conflict, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters", { name: "beta" }));
    await expectProblem(response, 409, "conflict", "name");
  });

  it("refuses to shrink a cluster's source ranges so that a mapping falls outside, with 409 in-use, changing nothing", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha", {
      sourceRanges: ["10.244.128.0/17", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"],
    }));
    const problem = await expectProblem(response, 409, "in-use", "sourceRanges");
    assert.match(problem.detail, /erp/);
  });

  it("refuses to shrink a cluster's source ranges so that a route falls outside, with 409 in-use, changing nothing", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/routes", { prefix: "10.244.1.0/24", via: "172.31.0.11" }), 201);
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha", {
      sourceRanges: ["10.244.128.0/17"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"],
    }));
    await expectProblem(response, 409, "in-use", "sourceRanges");
  });

  it("refuses to withdraw an egress IP that a mapping still uses with 409 in-use, changing nothing", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha", {
      sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.11", "2001:db8::10"],
    }));
    const problem = await expectProblem(response, 409, "in-use", "egressIps");
    assert.match(problem.detail, /erp/);
  });

  it("deletes an empty cluster with 204 and frees its egress IPs", async () => {
    const { h } = await tenants();
    const response = await h.admin("DELETE", "/v1/clusters/beta");
    await expectStatus(response, 204);
    await expectProblem(await h.admin("GET", "/v1/clusters/beta"), 404, "not-found");
    assert.equal((await expectStatus(await h.admin("GET", "/v1/egress-ips/203.0.113.20"), 200)).cluster, null);
    await expectStatus(await h.admin("DELETE", "/v1/egress-ips/203.0.113.20"), 204);
    const audit = h.audit().at(-2);
    assert.equal(audit?.action, "delete");
    assert.equal(audit?.resource, "clusters/beta");
  });

  it("refuses to delete a cluster with mappings unless ?cascade=true (409 in-use, changing nothing)", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const refused = await h.unchanged(() => h.admin("DELETE", "/v1/clusters/alpha"));
    const problem = await expectProblem(refused, 409, "in-use");
    assert.match(problem.detail, /cascade=true/);
    const refusedFalse = await h.unchanged(() => h.admin("DELETE", "/v1/clusters/alpha?cascade=false"));
    await expectProblem(refusedFalse, 409, "in-use");
  });

  it("refuses to delete a cluster with only routes unless ?cascade=true", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/routes", { prefix: "10.244.1.0/24", via: "172.31.0.11" }), 201);
    await expectProblem(await h.unchanged(() => h.admin("DELETE", "/v1/clusters/alpha")), 409, "in-use");
  });

  it("deletes a cluster with ?cascade=true: 204, and its mappings, routes, tokens and grants are gone", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings",
      { mappings: [erp(), { name: "crm", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11" }] }), 200);
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/routes", { prefix: "10.244.1.0/24", via: "172.31.0.11" }), 201);
    const before = h.revision();
    const response = await h.admin("DELETE", "/v1/clusters/alpha?cascade=true");
    await expectStatus(response, 204);
    assert.equal(h.revision(), before + 1);
    assert.equal(response.headers.get("Egw-Revision"), String(before + 1));
    for (const table of ["mappings", "routes", "tokens", "cluster_source_ranges", "cluster_egress_ips"]) {
      const n = (h.db.prepare(`SELECT count(*) AS n FROM ${table} WHERE cluster = 'alpha'`).get() as { n: number }).n;
      assert.equal(n, 0, `${table} rows of alpha must be gone`);
    }
    await expectProblem(await h.admin("GET", "/v1/clusters/alpha/mappings"), 404, "not-found");
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 401, "unauthorized");
    const audit = h.audit().at(-1);
    assert.equal(audit?.action, "delete");
    assert.equal(audit?.resource, "clusters/alpha");
    assert.deepEqual(JSON.parse(audit?.before ?? "null").mappings.map((m: { name: string }) => m.name), ["crm", "erp"]);
    // beta is untouched.
    assert.equal((await expectStatus(await h.admin("GET", "/v1/clusters/beta"), 200)).sourceRanges[0], "10.245.0.0/16");
  });

  it("answers 404 for an unknown cluster on GET, PUT and DELETE, changing nothing", async () => {
    const { h } = await tenants();
    await expectProblem(await h.admin("GET", "/v1/clusters/gamma"), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.admin("PUT", "/v1/clusters/gamma", { sourceRanges: [] })), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.admin("DELETE", "/v1/clusters/gamma")), 404, "not-found");
  });
});
