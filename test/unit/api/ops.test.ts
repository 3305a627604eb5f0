import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { API_VERSION } from "../../../api/app.js";
import { erp, expectProblem, expectStatus, Harness, json, tenants } from "./harness.js";

describe("operations endpoints", () => {
  it("answers /healthz with 200 and no token", async () => {
    const h = new Harness();
    const response = await h.raw("/healthz");
    assert.deepEqual(await expectStatus(response, 200), { status: "ok" });
  });

  it("answers /readyz with 503 until the data plane is ready, then 200", async () => {
    const h = new Harness();
    const notReady = await h.raw("/readyz");
    assert.equal(notReady.headers.get("Retry-After"), "5");
    assert.deepEqual(await expectStatus(notReady, 503), { status: "not ready" });
    h.dataplane.isReady = true;
    assert.deepEqual(await expectStatus(await h.raw("/readyz"), 200), { status: "ready" });
    h.dataplane.isReady = false;
    await expectStatus(await h.raw("/readyz"), 503);
  });

  it("serves /metrics on the API listeners only to the admin: every egress IP's traffic is not for tenants", async () => {
    const { h, alpha } = await tenants();
    const anonymous = await h.raw("/metrics");
    assert.equal(anonymous.headers.get("WWW-Authenticate"), 'Bearer realm="egw"');
    await expectProblem(anonymous, 401, "unauthorized");
    await expectProblem(await h.as(alpha.token, "GET", "/metrics"), 403, "forbidden");
  });

  it("serves /metrics in the Prometheus text format", async () => {
    const h = new Harness();
    const response = await h.admin("GET", "/metrics");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.match(text, /^# HELP egw_test_harness_gauge A gauge the harness registers$/m);
    assert.match(text, /^# TYPE egw_test_harness_gauge gauge$/m);
    assert.match(text, /^egw_test_harness_gauge 42$/m);
  });

  it("serves /openapi.json as an OpenAPI 3.1 document describing the mappings resource", async () => {
    const h = new Harness();
    const response = await h.raw("/openapi.json");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    const doc = await json(response);
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(doc.info.version, API_VERSION);
    const mappings = doc.paths["/v1/clusters/{name}/mappings"];
    assert.ok(mappings, `paths: ${Object.keys(doc.paths).join(", ")}`);
    assert.deepEqual(Object.keys(mappings).sort(), ["get", "post", "put"]);
    assert.ok(doc.paths["/v1/clusters/{name}/mappings/{mapping}"].delete);
    assert.ok(doc.paths["/v1/clusters/{name}/routes/{prefix}"].delete);
    assert.ok(doc.paths["/v1/egress-ips"].post);
    assert.ok(doc.paths["/v1/clusters/{name}/tokens"].post);
    assert.ok(mappings.put.responses["409"], "PUT mappings documents its 409");
    assert.ok(mappings.put.responses["422"]["content"]["application/problem+json"], "errors are documented as problem+json");
    assert.equal(doc.components.securitySchemes.bearer.scheme, "bearer");
    assert.ok(doc.components.schemas.MappingInput);
  });

  it("answers /v1/status for the admin with this gateway's role, revision and last apply", async () => {
    const { h } = await tenants();
    const revision = h.revision();
    const body = await expectStatus(await h.admin("GET", "/v1/status"), 200);
    assert.equal(body.gateway, "gw-test");
    assert.equal(body.role, "standalone");
    assert.equal(body.version, API_VERSION);
    assert.equal(body.revision, revision);
    assert.equal(body.appliedRevision, 0);
    assert.equal(body.inSync, false);
    assert.equal(body.lastApply, null);
    assert.deepEqual(body.peers, []);

    h.dataplane.isReady = true;
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings?wait=true", erp()), 201);
    const after = await expectStatus(await h.admin("GET", "/v1/status"), 200);
    assert.equal(after.revision, revision + 1);
    assert.equal(after.appliedRevision, revision + 1);
    assert.equal(after.inSync, true);
    assert.equal(after.lastApply.revision, revision + 1);
    assert.equal(after.lastApply.ok, true);
  });

  it("answers /v1/status without a token with 401", async () => {
    const h = new Harness();
    await expectProblem(await h.raw("/v1/status"), 401, "unauthorized");
  });

  it("answers a cluster's status with its revision, counts and each gateway's applied revision", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings",
      { mappings: [erp(), { name: "crm", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11" }] }), 200);
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/routes", { routes: [{ prefix: "10.244.1.0/24", via: "172.31.0.11" }] }), 200);
    h.dataplane.applied = h.revision() - 1;
    const body = await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/status"), 200);
    assert.equal(body.cluster, "alpha");
    assert.equal(body.revision, h.revision());
    assert.equal(body.mappings, 2);
    assert.equal(body.routes, 1);
    assert.equal(body.gateways.length, 1);
    assert.equal(body.gateways[0].name, "gw-test");
    assert.equal(body.gateways[0].appliedRevision, h.revision() - 1);
    assert.equal(body.gateways[0].inSync, false);
    const beta = await expectStatus(await h.admin("GET", "/v1/clusters/beta/status"), 200);
    assert.equal(beta.mappings, 0);
    assert.equal(beta.routes, 0);
  });

  it("answers the status of an unknown cluster with 404", async () => {
    const { h } = await tenants();
    await expectProblem(await h.admin("GET", "/v1/clusters/gamma/status"), 404, "not-found");
  });
});
