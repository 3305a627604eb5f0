import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { erp, expectProblem, expectStatus, Harness, reasonFor, tenants } from "./harness.js";

describe("/v1/egress-ips", () => {
  it("creates, lists, shows, updates and deletes egress IPs, bumping the revision on each change", async () => {
    const h = new Harness();
    assert.equal(h.revision(), 0);
    const created = await h.admin("POST", "/v1/egress-ips", { address: "203.0.113.10", description: "erp" });
    assert.deepEqual(await expectStatus(created, 201), { address: "203.0.113.10", family: 4, description: "erp", cluster: null });
    assert.equal(created.headers.get("Egw-Revision"), "1");
    assert.equal(h.revision(), 1);

    const v6 = await expectStatus(await h.admin("POST", "/v1/egress-ips", { address: "2001:DB8:0:0::10" }), 201);
    assert.deepEqual(v6, { address: "2001:db8::10", family: 6, description: "", cluster: null }, "IPv6 is stored in RFC 5952 form");

    const list = await expectStatus(await h.admin("GET", "/v1/egress-ips"), 200);
    assert.deepEqual(list.egressIps.map((ip: { address: string }) => ip.address), ["203.0.113.10", "2001:db8::10"]);

    assert.equal((await expectStatus(await h.admin("GET", "/v1/egress-ips/2001:db8::10"), 200)).family, 6);
    assert.equal((await expectStatus(await h.admin("GET", "/v1/egress-ips/2001:0db8::0010"), 200)).address, "2001:db8::10",
      "a non-canonical address in the path finds the canonical one");

    const patched = await h.admin("PATCH", "/v1/egress-ips/203.0.113.10", { description: "ERP production" });
    assert.equal((await expectStatus(patched, 200)).description, "ERP production");
    assert.equal(patched.headers.get("Egw-Revision"), "3");

    const deleted = await h.admin("DELETE", "/v1/egress-ips/2001:db8::10");
    await expectStatus(deleted, 204);
    assert.equal(deleted.headers.get("Egw-Revision"), "4");
    await expectProblem(await h.admin("GET", "/v1/egress-ips/2001:db8::10"), 404, "not-found");
    assert.equal(h.revision(), 4);
  });

  it("records each change in the audit log with actor, action, resource, before and after", async () => {
    const h = new Harness();
    await expectStatus(await h.admin("POST", "/v1/egress-ips", { address: "203.0.113.10", description: "a" }), 201);
    await expectStatus(await h.admin("PATCH", "/v1/egress-ips/203.0.113.10", { description: "b" }), 200);
    await expectStatus(await h.admin("DELETE", "/v1/egress-ips/203.0.113.10"), 204);
    const audit = h.audit();
    assert.deepEqual(audit.map((a) => [a.revision, a.actor, a.action, a.resource]), [
      [1, "admin", "create", "egress-ips/203.0.113.10"],
      [2, "admin", "update", "egress-ips/203.0.113.10"],
      [3, "admin", "delete", "egress-ips/203.0.113.10"],
    ]);
    assert.equal(audit[0]?.before, null);
    assert.deepEqual(JSON.parse(audit[0]?.after ?? "null"), { address: "203.0.113.10", family: 4, description: "a", cluster: null });
    assert.equal(JSON.parse(audit[1]?.before ?? "null").description, "a");
    assert.equal(JSON.parse(audit[1]?.after ?? "null").description, "b");
    assert.equal(JSON.parse(audit[2]?.before ?? "null").description, "b");
    assert.equal(audit[2]?.after, null);
  });

  it("does not bump the revision when a PATCH changes nothing", async () => {
    const h = new Harness();
    await expectStatus(await h.admin("POST", "/v1/egress-ips", { address: "203.0.113.10", description: "same" }), 201);
    const response = await h.unchanged(() => h.admin("PATCH", "/v1/egress-ips/203.0.113.10", { description: "same" }));
    await expectStatus(response, 200);
    assert.equal(response.headers.get("Egw-Revision"), "1");
  });

  it("shows which cluster an egress IP is granted to", async () => {
    const { h } = await tenants();
    assert.equal((await expectStatus(await h.admin("GET", "/v1/egress-ips/203.0.113.10"), 200)).cluster, "alpha");
    assert.equal((await expectStatus(await h.admin("GET", "/v1/egress-ips/203.0.113.20"), 200)).cluster, "beta");
    assert.equal((await expectStatus(await h.admin("GET", "/v1/egress-ips/203.0.113.30"), 200)).cluster, null);
  });

  it("refuses a duplicate egress IP (also in another spelling) with 409 conflict, changing nothing", async () => {
    const h = new Harness();
    await expectStatus(await h.admin("POST", "/v1/egress-ips", { address: "2001:db8::10" }), 201);
    const response = await h.unchanged(() => h.admin("POST", "/v1/egress-ips", { address: "2001:db8:0::10" }));
    await expectProblem(response, 409, "conflict", "address");
  });

  it("refuses a gateway's own address as an egress IP with 422 naming the field, changing nothing", async () => {
    const h = new Harness();
    for (const address of ["203.0.113.1", "172.31.0.1", "2001:DB8::1"]) {
      const response = await h.unchanged(() => h.admin("POST", "/v1/egress-ips", { address }));
      const problem = await expectProblem(response, 422, "validation-failed", "address");
      assert.match(reasonFor(problem, "address"), /address of this gateway/);
    }
  });

  it("refuses text that is not an address with 422, changing nothing", async () => {
    const h = new Harness();
    for (const address of ["203.0.113", "203.0.113.256", "10.1", "not-an-ip", "203.0.113.0/24", "fe80::1%eth0", "::ffff:203.0.113.5"]) {
      const response = await h.unchanged(() => h.admin("POST", "/v1/egress-ips", { address }));
      await expectProblem(response, 422, "validation-failed", "address");
    }
  });

  it("refuses to delete an egress IP a mapping uses with 409 in-use, changing nothing", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const response = await h.unchanged(() => h.admin("DELETE", "/v1/egress-ips/203.0.113.10"));
    const problem = await expectProblem(response, 409, "in-use");
    assert.match(problem.detail, /mapping/);
  });

  it("refuses to delete an egress IP granted to a cluster with 409 in-use, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("DELETE", "/v1/egress-ips/203.0.113.11"));
    const problem = await expectProblem(response, 409, "in-use");
    assert.match(problem.detail, /alpha/);
    assert.equal(problem.cluster, "alpha");
  });

  it("answers 404 for an unknown egress IP on GET, PATCH and DELETE, changing nothing", async () => {
    const h = new Harness();
    await expectProblem(await h.admin("GET", "/v1/egress-ips/198.51.100.1"), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.admin("PATCH", "/v1/egress-ips/198.51.100.1", { description: "x" })), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.admin("DELETE", "/v1/egress-ips/198.51.100.1")), 404, "not-found");
  });
});
