import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ADMIN_TOKEN, erp, expectProblem, expectStatus, Harness, tenants } from "./harness.js";

describe("API authentication", () => {
  const rejected: [string, Record<string, string>][] = [
    ["no Authorization header", {}],
    ["a Basic header", { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64")}` }],
    ["'Bearer' without a token", { authorization: "Bearer" }],
    ["a token with a space in it", { authorization: `Bearer ${ADMIN_TOKEN} extra` }],
    ["the admin token without the Bearer scheme", { authorization: ADMIN_TOKEN }],
    ["an unknown cluster-style token", { authorization: "Bearer egw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
    ["the admin token with one character changed", { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}X` }],
    ["a prefix of the admin token", { authorization: `Bearer ${ADMIN_TOKEN.slice(0, 20)}` }],
  ];
  for (const [what, headers] of rejected) {
    it(`answers ${what} with a 401 problem`, async () => {
      const h = new Harness();
      const problem = await expectProblem(await h.raw("/v1/egress-ips", { headers }), 401, "unauthorized");
      assert.equal(problem.instance, "/v1/egress-ips");
    });
  }

  it("refuses an unauthenticated write with 401 and stores nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.call("POST", "/v1/egress-ips", { body: { address: "203.0.113.99" } }));
    await expectProblem(response, 401, "unauthorized");
  });

  it("accepts the admin token with a lowercase scheme", async () => {
    const h = new Harness();
    const body = await expectStatus(await h.raw("/v1/egress-ips", { headers: { authorization: `bearer ${ADMIN_TOKEN}` } }), 200);
    assert.deepEqual(body, { egressIps: [] });
  });

  it("answers a revoked cluster token with 401 at once, while the cluster's other token still works", async () => {
    const { h, alpha } = await tenants();
    const second = await expectStatus(await h.admin("POST", "/v1/clusters/alpha/tokens", { description: "spare" }), 201);
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200);
    await expectStatus(await h.admin("DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`), 200);
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 401, "unauthorized");
    const write = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp()));
    await expectProblem(write, 401, "unauthorized");
    await expectStatus(await h.as(second.token, "GET", "/v1/clusters/alpha/mappings"), 200);
  });
});

describe("API authorization", () => {
  const adminOnly: [string, string, unknown?][] = [
    ["GET", "/v1/egress-ips"],
    ["POST", "/v1/egress-ips", { address: "203.0.113.99" }],
    ["GET", "/v1/egress-ips/203.0.113.10"],
    ["PATCH", "/v1/egress-ips/203.0.113.10", { description: "mine now" }],
    ["DELETE", "/v1/egress-ips/203.0.113.30"],
    ["GET", "/v1/clusters"],
    ["POST", "/v1/clusters", { name: "gamma" }],
    ["PUT", "/v1/clusters/alpha", { sourceRanges: ["10.0.0.0/8"], egressIps: ["203.0.113.10", "203.0.113.20"] }],
    ["DELETE", "/v1/clusters/alpha?cascade=true"],
    ["GET", "/v1/clusters/alpha/tokens"],
    ["POST", "/v1/clusters/alpha/tokens", { description: "self-issued" }],
    ["DELETE", "/v1/clusters/alpha/tokens/000000000000"],
    ["GET", "/v1/status"],
  ];
  for (const [method, path, body] of adminOnly) {
    it(`refuses a cluster token on admin resource ${method} ${path} with 403, changing nothing`, async () => {
      const { h, alpha } = await tenants();
      const response = await h.unchanged(() => h.as(alpha.token, method, path, body));
      await expectProblem(response, 403, "forbidden");
    });
  }

  it("refuses a cluster token revoking its own token with 403 (only the admin revokes)", async () => {
    const { h, alpha } = await tenants();
    const response = await h.unchanged(() => h.as(alpha.token, "DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`));
    await expectProblem(response, 403, "forbidden");
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200);
  });

  const crossCluster: [string, string, unknown?][] = [
    ["GET", "/v1/clusters/beta"],
    ["GET", "/v1/clusters/beta/mappings"],
    ["PUT", "/v1/clusters/beta/mappings", { mappings: [] }],
    ["POST", "/v1/clusters/beta/mappings", { name: "steal", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.20" }],
    ["GET", "/v1/clusters/beta/mappings/web"],
    ["DELETE", "/v1/clusters/beta/mappings/web"],
    ["GET", "/v1/clusters/beta/routes"],
    ["PUT", "/v1/clusters/beta/routes", { routes: [] }],
    ["POST", "/v1/clusters/beta/routes", { prefix: "10.245.2.0/24", via: "172.31.0.66" }],
    ["DELETE", "/v1/clusters/beta/routes/10.245.1.0%2F24"],
    ["GET", "/v1/clusters/beta/status"],
    ["GET", "/v1/clusters/no-such-cluster/mappings"],
  ];
  for (const [method, path, body] of crossCluster) {
    it(`refuses cluster alpha's token on ${method} ${path} with 403, changing nothing`, async () => {
      const { h, alpha } = await tenants();
      await expectStatus(await h.admin("PUT", "/v1/clusters/beta/mappings",
        { mappings: [{ name: "web", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.20" }] }), 200);
      await expectStatus(await h.admin("PUT", "/v1/clusters/beta/routes", { routes: [{ prefix: "10.245.1.0/24", via: "172.31.0.21" }] }), 200);
      const response = await h.unchanged(() => h.as(alpha.token, method, path, body));
      const problem = await expectProblem(response, 403, "forbidden");
      assert.match(problem.detail, /alpha/);
    });
  }

  it("lets a cluster token read and write its own mappings, routes, status and cluster", async () => {
    const { h, alpha } = await tenants();
    const put = await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp()] }), 200);
    assert.equal(put.mappings.length, 1);
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings",
      { name: "crm", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11" }), 201);
    assert.equal((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/crm"), 200)).egressIp, "203.0.113.11");
    await expectStatus(await h.as(alpha.token, "DELETE", "/v1/clusters/alpha/mappings/crm"), 204);
    assert.deepEqual((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200)).mappings.map((m: { name: string }) => m.name), ["erp"]);

    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/routes", { routes: [{ prefix: "10.244.1.0/24", via: "172.31.0.11" }] }), 200);
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", { prefix: "10.244.2.0/24", via: "172.31.0.12" }), 201);
    await expectStatus(await h.as(alpha.token, "DELETE", "/v1/clusters/alpha/routes/10.244.2.0-24"), 204);
    assert.equal((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/routes"), 200)).routes.length, 1);

    const status = await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/status"), 200);
    assert.equal(status.cluster, "alpha");
    assert.equal(status.mappings, 1);
    assert.equal(status.routes, 1);
    assert.equal((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha"), 200)).name, "alpha");
  });

  it("lets the admin token reach every cluster's resources and every admin resource", async () => {
    const { h } = await tenants();
    for (const path of ["/v1/egress-ips", "/v1/clusters", "/v1/status", "/v1/clusters/alpha", "/v1/clusters/beta/tokens",
      "/v1/clusters/alpha/mappings", "/v1/clusters/beta/mappings", "/v1/clusters/alpha/routes", "/v1/clusters/beta/routes",
      "/v1/clusters/alpha/status", "/v1/clusters/beta/status"]) {
      await expectStatus(await h.admin("GET", path), 200);
    }
    await expectStatus(await h.admin("POST", "/v1/clusters/beta/mappings", { name: "web", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.20" }), 201);
    await expectStatus(await h.admin("POST", "/v1/clusters/beta/routes", { prefix: "10.245.1.0/24", via: "172.31.0.21" }), 201);
  });
});
