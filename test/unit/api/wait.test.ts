import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { erp, expectProblem, expectStatus, tenants, WAIT_TIMEOUT_MS } from "./harness.js";

describe("?wait=true", () => {
  it("answers 2xx with Egw-Applied-Revision once the data plane has applied the change", async () => {
    const { h } = await tenants();
    const response = await h.admin("POST", "/v1/clusters/alpha/mappings?wait=true", erp());
    await expectStatus(response, 201);
    const revision = h.revision();
    assert.equal(response.headers.get("Egw-Revision"), String(revision));
    assert.equal(response.headers.get("Egw-Applied-Revision"), String(revision));
    assert.deepEqual(h.dataplane.waits, [{ revision, timeoutMs: WAIT_TIMEOUT_MS }]);
  });

  it("does not wait, nor send Egw-Applied-Revision, without wait=true", async () => {
    const { h } = await tenants();
    for (const query of ["", "?wait=false"]) {
      const response = await h.admin("POST", `/v1/clusters/alpha/mappings${query}`, erp({ name: `m${query.length}`, sourceCidr: `10.244.${query.length}.0/24` }));
      await expectStatus(response, 201);
      assert.equal(response.headers.get("Egw-Applied-Revision"), null);
      assert.equal(response.headers.get("Egw-Revision"), String(h.revision()));
    }
    assert.deepEqual(h.dataplane.waits, []);
  });

  it("honours a shorter waitTimeoutMs and caps a longer one at the daemon's limit", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings?wait=true&waitTimeoutMs=250", { mappings: [erp()] }), 200);
    await expectStatus(await h.admin("PUT", `/v1/clusters/alpha/routes?wait=true&waitTimeoutMs=${WAIT_TIMEOUT_MS * 10}`,
      { routes: [{ prefix: "10.244.1.0/24", via: "172.31.0.11" }] }), 200);
    assert.deepEqual(h.dataplane.waits.map((w) => w.timeoutMs), [250, WAIT_TIMEOUT_MS]);
  });

  it("refuses a waitTimeoutMs that is not a positive integer with 422, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings?wait=true&waitTimeoutMs=-5", erp()));
    await expectProblem(response, 422, "validation-failed", "waitTimeoutMs");
  });

  it("works for deletes and cluster writes too", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const deleted = await h.admin("DELETE", "/v1/clusters/alpha/mappings/erp?wait=true");
    await expectStatus(deleted, 204);
    assert.equal(deleted.headers.get("Egw-Applied-Revision"), String(h.revision()));
    const cluster = await h.admin("POST", "/v1/clusters?wait=true", { name: "gamma" });
    await expectStatus(cluster, 201);
    assert.equal(cluster.headers.get("Egw-Applied-Revision"), String(h.revision()));
  });

  it("answers 500 apply-failed when the data plane refuses the change — yet the change IS stored and the revision bumped", async () => {
    const { h, alpha } = await tenants();
    h.dataplane.mode = "fail";
    const before = h.revision();
    const audits = h.auditCount();
    const response = await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings?wait=true", erp());
    const problem = await expectProblem(response, 500, "apply-failed");
    assert.match(problem.title, /stored/);
    assert.equal(response.headers.get("Egw-Revision"), String(before + 1), "the error still says which revision was stored");
    assert.equal(h.revision(), before + 1, "the write was committed before the wait");
    assert.equal(h.auditCount(), audits + 1, "and audited");
    assert.deepEqual(h.commits.at(-1), before + 1);
    assert.equal((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp"), 200)).sourceCidr, "10.244.1.0/26");
    assert.deepEqual(h.dataplane.waits, [{ revision: before + 1, timeoutMs: WAIT_TIMEOUT_MS }]);
  });

  it("answers 504 apply-timeout when the data plane does not apply in time — the change IS stored", async () => {
    const { h } = await tenants();
    h.dataplane.mode = "timeout";
    const before = h.revision();
    const response = await h.admin("PUT", "/v1/clusters/alpha/mappings?wait=true&waitTimeoutMs=10", { mappings: [erp()] });
    await expectProblem(response, 504, "apply-timeout");
    assert.equal(h.revision(), before + 1);
    assert.equal((await expectStatus(await h.admin("GET", "/v1/clusters/alpha/mappings"), 200)).mappings.length, 1);
    assert.deepEqual(h.dataplane.waits, [{ revision: before + 1, timeoutMs: 10 }]);
  });

  it("does not wait when the request is rejected", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings?wait=true", erp({ egressIp: "203.0.113.20" })));
    await expectProblem(response, 403, "not-owned", "egressIp");
  });
});

describe("audit log", () => {
  it("records every successful write with its actor, and no rejected one", async () => {
    const { h, alpha, beta } = await tenants();
    const start = h.auditCount();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp()] }), 200);
    await expectProblem(await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ name: "dup" })), 409, "overlap");
    await expectProblem(await h.as(beta.token, "POST", "/v1/clusters/alpha/mappings", erp({ name: "x", sourceCidr: "10.244.7.0/24" })), 403, "forbidden");
    await expectStatus(await h.as(beta.token, "POST", "/v1/clusters/beta/routes", { prefix: "10.245.1.0/24", via: "172.31.0.21" }), 201);
    await expectStatus(await h.admin("PATCH", "/v1/egress-ips/203.0.113.30", { description: "spare" }), 200);
    const entries = h.audit().slice(start);
    assert.deepEqual(entries.map((e) => [e.actor, e.action, e.resource]), [
      [`cluster:alpha/token:${alpha.id}`, "replace", "clusters/alpha/mappings"],
      [`cluster:beta/token:${beta.id}`, "create", "clusters/beta/routes/10.245.1.0/24"],
      ["admin", "update", "egress-ips/203.0.113.30"],
    ]);
    const revisions = entries.map((e) => e.revision);
    assert.deepEqual(revisions, [revisions[0], (revisions[0] ?? 0) + 1, (revisions[0] ?? 0) + 2], "one revision per write");
    assert.equal(revisions.at(-1), h.revision());
    assert.deepEqual(JSON.parse(entries[0]?.after ?? "null")[0].name, "erp");
    assert.deepEqual(JSON.parse(entries[1]?.after ?? "null"), { cluster: "beta", prefix: "10.245.1.0/24", via: "172.31.0.21" });
    assert.equal(JSON.parse(entries[2]?.before ?? "null").description, "");
    assert.equal(JSON.parse(entries[2]?.after ?? "null").description, "spare");
  });
});
