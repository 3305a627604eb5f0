import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { erp, expectProblem, expectStatus, grantExclusions, reasonFor, tenants } from "./harness.js";

const crm = { name: "crm", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11" };
const v6 = { name: "erp-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" };

describe("/v1/clusters/{name}/mappings", () => {
  it("replaces the whole set with PUT and answers the stored, canonical set with its revision", async () => {
    const { h } = await tenants();
    await grantExclusions(h, "alpha", ["10.0.0.0/8"]);
    const before = h.revision();
    const response = await h.admin("PUT", "/v1/clusters/alpha/mappings", {
      mappings: [
        erp({ destinations: ["198.51.100.0/24", "192.0.2.0/24"], excludedDestinations: ["10.0.0.0/8"] }),
        crm,
        { ...v6, sourceCidr: "FD00:10:244:1:0::/64", egressIp: "2001:DB8:0::10" },
      ],
    });
    const body = await expectStatus(response, 200);
    assert.equal(body.revision, before + 1);
    assert.equal(response.headers.get("Egw-Revision"), String(before + 1));
    assert.deepEqual(body.mappings, [
      { name: "crm", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11", destinations: [], excludedDestinations: [], labels: {} },
      { name: "erp", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10",
        destinations: ["192.0.2.0/24", "198.51.100.0/24"], excludedDestinations: ["10.0.0.0/8"], labels: { namespace: "erp" } },
      { name: "erp-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10", destinations: [], excludedDestinations: [], labels: {} },
    ]);
    assert.deepEqual(await expectStatus(await h.admin("GET", "/v1/clusters/alpha/mappings"), 200), { mappings: body.mappings, next: null });
    const audit = h.audit().at(-1);
    assert.equal(audit?.action, "replace");
    assert.equal(audit?.resource, "clusters/alpha/mappings");
    assert.deepEqual(JSON.parse(audit?.before ?? "null"), []);
    assert.deepEqual(JSON.parse(audit?.after ?? "null").map((m: { name: string }) => m.name), ["crm", "erp", "erp-v6"]);
  });

  it("is idempotent: a second identical PUT keeps the revision, the audit log and the store as they were", async () => {
    const { h, alpha } = await tenants();
    const set = { mappings: [erp(), crm, v6] };
    const first = await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", set);
    const stored = await expectStatus(first, 200);
    const revision = first.headers.get("Egw-Revision");
    assert.equal(revision, String(h.revision()));
    const audits = h.auditCount();
    const second = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", set));
    const again = await expectStatus(second, 200);
    assert.equal(second.headers.get("Egw-Revision"), revision);
    assert.equal(again.revision, Number(revision));
    assert.deepEqual(again.mappings, stored.mappings);
    assert.equal(h.auditCount(), audits);
  });

  it("is idempotent also when the same set is re-sent in another order and spelling", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp(), crm, v6] }), 200);
    const revision = h.revision();
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings", {
      mappings: [{ ...v6, egressIp: "2001:0db8::0010" }, crm, erp()],
    }));
    await expectStatus(response, 200);
    assert.equal(response.headers.get("Egw-Revision"), String(revision));
  });

  it("is idempotent also when labels are re-sent with their keys in another order (JSON objects are unordered)", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp({ labels: { namespace: "erp", app: "billing" } })] }), 200);
    const revision = h.revision();
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings",
      { mappings: [erp({ labels: { app: "billing", namespace: "erp" } })] }));
    await expectStatus(response, 200);
    assert.equal(response.headers.get("Egw-Revision"), String(revision));
  });

  it("removes mappings left out of a PUT, and an empty PUT removes them all", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp(), crm] }), 200);
    const smaller = await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [crm] }), 200);
    assert.deepEqual(smaller.mappings.map((m: { name: string }) => m.name), ["crm"]);
    const empty = await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [] }), 200);
    assert.deepEqual(empty.mappings, []);
    assert.equal((h.db.prepare("SELECT count(*) AS n FROM mappings").get() as { n: number }).n, 0);
  });

  it("lets one PUT swap the source CIDRs of two mappings", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp(), crm] }), 200);
    const swapped = await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", {
      mappings: [erp({ sourceCidr: crm.sourceCidr }), { ...crm, sourceCidr: "10.244.1.0/26" }],
    }), 200);
    assert.deepEqual(swapped.mappings.map((m: { name: string; sourceCidr: string }) => [m.name, m.sourceCidr]),
      [["crm", "10.244.1.0/26"], ["erp", "10.244.2.0/24"]]);
  });

  it("adds one mapping with POST (201), shows it with GET and deletes it with DELETE (204)", async () => {
    const { h, alpha } = await tenants();
    const before = h.revision();
    const created = await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp());
    const body = await expectStatus(created, 201);
    assert.deepEqual(body, { name: "erp", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: { namespace: "erp" } });
    assert.equal(created.headers.get("Egw-Revision"), String(before + 1));
    assert.deepEqual(await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp"), 200), body);
    const audit = h.audit().at(-1);
    assert.equal(audit?.actor, `cluster:alpha/token:${alpha.id}`);
    assert.equal(audit?.action, "create");
    assert.equal(audit?.resource, "clusters/alpha/mappings/erp");
    assert.equal(audit?.before, null);
    assert.equal(JSON.parse(audit?.after ?? "null").sourceCidr, "10.244.1.0/26");

    const deleted = await h.as(alpha.token, "DELETE", "/v1/clusters/alpha/mappings/erp");
    await expectStatus(deleted, 204);
    assert.equal(deleted.headers.get("Egw-Revision"), String(before + 2));
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp"), 404, "not-found");
    const deletion = h.audit().at(-1);
    assert.equal(deletion?.action, "delete");
    assert.equal(deletion?.actor, `cluster:alpha/token:${alpha.id}`);
    assert.equal(JSON.parse(deletion?.before ?? "null").name, "erp");
    assert.equal(deletion?.after, null);
  });

  it("answers 404 for an unknown mapping on GET and DELETE, changing nothing", async () => {
    const { h } = await tenants();
    await expectProblem(await h.admin("GET", "/v1/clusters/alpha/mappings/nope"), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.admin("DELETE", "/v1/clusters/alpha/mappings/nope")), 404, "not-found");
  });

  it("answers 404 for the mappings of an unknown cluster, changing nothing", async () => {
    const { h } = await tenants();
    await expectProblem(await h.admin("GET", "/v1/clusters/gamma/mappings"), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.admin("PUT", "/v1/clusters/gamma/mappings", { mappings: [] })), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.admin("POST", "/v1/clusters/gamma/mappings", erp())), 404, "not-found");
  });

  it("refuses a POST of a name that exists with 409 conflict, changing nothing", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings", erp({ sourceCidr: "10.244.9.0/24" })));
    await expectProblem(response, 409, "conflict", "name");
  });

  it("refuses two mappings with one name in a PUT with 422 naming the second, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp(), erp({ sourceCidr: "10.244.9.0/24" })] }));
    await expectProblem(response, 422, "validation-failed", "mappings.1.name");
  });

  it("keeps other clusters' mappings when a cluster replaces its own set", async () => {
    const { h, beta } = await tenants();
    await expectStatus(await h.as(beta.token, "PUT", "/v1/clusters/beta/mappings",
      { mappings: [{ name: "web", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.20" }] }), 200);
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp()] }), 200);
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [] }), 200);
    const betas = await expectStatus(await h.as(beta.token, "GET", "/v1/clusters/beta/mappings"), 200);
    assert.deepEqual(betas.mappings.map((m: { name: string }) => m.name), ["web"]);
  });
});

describe("labels and descriptions hold no control characters", () => {
  const controls: [string, string][] = [
    ["ESC (an ANSI sequence)", "\u001b[2J"],
    ["NUL", "a\u0000b"],
    ["a newline", "line\nforged"],
    ["a tab", "a\tb"],
    ["DEL", "a\u007fb"],
    ["C1 CSI (U+009B)", "\u009b31m"],
    ["C1 NEL (U+0085)", "a\u0085b"],
    ["U+0080", "\u0080"],
    ["U+009F", "\u009f"],
  ];
  for (const [what, value] of controls) {
    it(`refuses a label value with ${what} (422 naming the label), changing nothing`, async () => {
      const { h, alpha } = await tenants();
      const post = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ labels: { app: value } })));
      const problem = await expectProblem(post, 422, "validation-failed", "labels.app");
      assert.equal(reasonFor(problem, "labels.app"), "must not contain control characters");
      const put = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp({ labels: { app: value } })] }));
      await expectProblem(put, 422, "validation-failed", "mappings.0.labels.app");
    });

    it(`refuses a description with ${what} (422), changing nothing`, async () => {
      const { h } = await tenants();
      await expectProblem(await h.unchanged(() => h.admin("POST", "/v1/egress-ips", { address: "203.0.113.99", description: value })),
        422, "validation-failed", "description");
    });
  }

  it("accepts printable unicode beyond the C1 block in labels and descriptions", async () => {
    const { h } = await tenants();
    const value = "Zürich 🚀 \u00a0non-breaking ©";
    const body = await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp({ labels: { app: value } })), 201);
    assert.equal(body.labels.app, value);
    await expectStatus(await h.admin("POST", "/v1/egress-ips", { address: "203.0.113.99", description: value }), 201);
  });
});
