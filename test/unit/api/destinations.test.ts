import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePrefix } from "../../../appliance/net/cidr.js";
import * as rows from "../../../appliance/store/rows.js";
import { erp, expectProblem, expectStatus, grantExclusions, reasonFor, tenants } from "./harness.js";

const filler = (i: number) => ({ name: `m${i}`, sourceCidr: `10.244.${10 + i}.0/24`, egressIp: "203.0.113.11" });

describe("destination lists: overlapping or duplicate entries are refused (422), naming both", () => {
  it("refuses overlapping destinations in a PUT, naming the later entry and the earlier one with its prefix", async () => {
    const { h, alpha } = await tenants();
    const response = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", {
      mappings: [filler(0), filler(1), filler(2), erp({ destinations: ["10.0.0.0/8", "10.1.0.0/16"] })],
    }));
    const problem = await expectProblem(response, 422, "validation-failed", "mappings.3.destinations.1");
    assert.equal(reasonFor(problem, "mappings.3.destinations.1"), "overlaps mappings.3.destinations.0 (10.0.0.0/8)");
    assert.match(problem.detail, /mappings\.3\.destinations\.1.*mappings\.3\.destinations\.0 \(10\.0\.0\.0\/8\)/);
  });

  it("names the entries by their position in the request, whichever prefix is larger", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings",
      erp({ destinations: ["192.0.2.0/24", "10.1.0.0/16", "198.51.100.0/24", "10.0.0.0/8"] })));
    const problem = await expectProblem(response, 422, "validation-failed", "destinations.3");
    assert.equal(reasonFor(problem, "destinations.3"), "overlaps destinations.1 (10.1.0.0/16)");
  });

  it("refuses a duplicate destination instead of silently dropping it", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings",
      { mappings: [erp({ destinations: ["192.0.2.0/24", "198.51.100.0/24", "192.0.2.0/24"] })] }));
    const problem = await expectProblem(response, 422, "validation-failed", "mappings.0.destinations.2");
    assert.equal(reasonFor(problem, "mappings.0.destinations.2"), "overlaps mappings.0.destinations.0 (192.0.2.0/24)");
  });

  it("refuses overlapping IPv6 destinations", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings", {
      name: "v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10", destinations: ["2001:db8:100::/48", "2001:db8:100:1::/64"],
    }));
    await expectProblem(response, 422, "validation-failed", "destinations.1");
  });

  it("refuses overlapping or duplicate excluded destinations, even where the exclusions are granted", async () => {
    const { h } = await tenants();
    await grantExclusions(h, "alpha", ["10.0.0.0/8"]);
    for (const excludedDestinations of [["10.0.0.0/16", "10.0.128.0/17"], ["10.3.0.0/16", "10.3.0.0/16"]]) {
      const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp({ excludedDestinations })] }));
      const problem = await expectProblem(response, 422, "validation-failed", "mappings.0.excludedDestinations.1");
      assert.equal(reasonFor(problem, "mappings.0.excludedDestinations.1"), `overlaps mappings.0.excludedDestinations.0 (${excludedDestinations[0]})`);
    }
  });

  it("reports an overlap in each list at once", async () => {
    const { h } = await tenants();
    await grantExclusions(h, "alpha", ["10.0.0.0/8"]);
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings",
      erp({ destinations: ["192.0.2.0/24", "192.0.2.0/25"], excludedDestinations: ["10.9.0.0/16", "10.9.9.0/24"] })));
    const problem = await expectProblem(response, 422, "validation-failed", "destinations.1");
    reasonFor(problem, "excludedDestinations.1");
  });

  it("accepts an exclusion that overlaps a destination: they are different sets (toward 10/8 except 10.1/16)", async () => {
    const { h, alpha } = await tenants();
    await grantExclusions(h, "alpha", ["10.1.0.0/16"]);
    const body = await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings",
      erp({ destinations: ["10.0.0.0/8"], excludedDestinations: ["10.1.0.0/16"] })), 201);
    assert.deepEqual([body.destinations, body.excludedDestinations], [["10.0.0.0/8"], ["10.1.0.0/16"]]);
  });

  it("accepts disjoint entries and stores them in canonical order", async () => {
    const { h } = await tenants();
    const body = await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings",
      erp({ destinations: ["198.51.100.0/24", "10.0.0.0/8", "192.0.2.0/25", "192.0.2.128/25"] })), 201);
    assert.deepEqual(body.destinations, ["10.0.0.0/8", "192.0.2.0/25", "192.0.2.128/25", "198.51.100.0/24"]);
  });
});

describe("excluded destinations need the admin's grant (excludableDestinations)", () => {
  it("a cluster has no excludable destinations by default: it cannot exempt all its traffic and leave with pod addresses", async () => {
    const { h, alpha } = await tenants();
    assert.deepEqual((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha"), 200)).excludableDestinations, []);
    const post = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ excludedDestinations: ["0.0.0.0/0"] })));
    const problem = await expectProblem(post, 403, "not-owned", "excludedDestinations.0");
    assert.match(problem.detail, /0\.0\.0\.0\/0/);
    const put = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings",
      { mappings: [filler(0), erp({ excludedDestinations: ["192.0.2.0/24"] })] }));
    await expectProblem(put, 403, "not-owned", "mappings.1.excludedDestinations.0");
  });

  it("accepts exclusions inside a grant and refuses those outside it or larger than it", async () => {
    const { h, alpha } = await tenants();
    await grantExclusions(h, "alpha", ["10.0.0.0/8", "fd00:10:244::/48"]);
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ excludedDestinations: ["10.1.0.0/16", "10.0.0.0/16"] })), 201);
    const refused: [string[], string][] = [
      [["10.2.0.0/16", "11.0.0.0/8"], "excludedDestinations.1"],
      [["0.0.0.0/0"], "excludedDestinations.0"],
      [["8.0.0.0/6"], "excludedDestinations.0"],
    ];
    for (const [excludedDestinations, field] of refused) {
      const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings",
        { name: "other", sourceCidr: "10.244.7.0/24", egressIp: "203.0.113.11", excludedDestinations }));
      const problem = await expectProblem(response, 403, "not-owned", field);
      assert.match(reasonFor(problem, field), /10\.0\.0\.0\/8/);
    }
  });

  it("is set by the admin only, on create and replace, and shown canonical and sorted", async () => {
    const { h, alpha } = await tenants();
    const created = await expectStatus(await h.admin("POST", "/v1/clusters",
      { name: "gamma", sourceRanges: ["10.246.0.0/16"], excludableDestinations: ["192.0.2.0/24", "FD00::/8", "10.0.0.0/8"] }), 201);
    assert.deepEqual(created.excludableDestinations, ["10.0.0.0/8", "192.0.2.0/24", "fd00::/8"]);
    const audit = h.audit().at(-1);
    assert.deepEqual(JSON.parse(audit?.after ?? "null").excludableDestinations, ["10.0.0.0/8", "192.0.2.0/24", "fd00::/8"]);
    const self = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha",
      { sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"], excludableDestinations: ["0.0.0.0/0"] }));
    await expectProblem(self, 403, "forbidden");
  });

  it("refuses overlapping grants and grants with host bits (422), changing nothing", async () => {
    const { h } = await tenants();
    const overlap = await h.unchanged(() => h.admin("POST", "/v1/clusters", { name: "gamma", excludableDestinations: ["10.0.0.0/8", "10.1.0.0/16"] }));
    const problem = await expectProblem(overlap, 422, "validation-failed", "excludableDestinations.1");
    assert.equal(reasonFor(problem, "excludableDestinations.1"), "overlaps excludableDestinations.0 (10.0.0.0/8)");
    const host = await h.unchanged(() => h.admin("POST", "/v1/clusters", { name: "gamma", excludableDestinations: ["10.1.2.3/8"] }));
    await expectProblem(host, 422, "validation-failed", "excludableDestinations.0");
  });

  it("refuses to shrink the grants so that a mapping's exclusion falls outside (409 in-use), and allows it when still covered", async () => {
    const { h } = await tenants();
    await grantExclusions(h, "alpha", ["10.0.0.0/8"]);
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp({ excludedDestinations: ["10.1.0.0/16"] })), 201);
    const current = await expectStatus(await h.admin("GET", "/v1/clusters/alpha"), 200);
    const grants = { sourceRanges: current.sourceRanges, egressIps: current.egressIps };
    for (const excludableDestinations of [[], ["10.2.0.0/16"], ["10.1.0.0/17"]]) {
      const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha", { ...grants, excludableDestinations }));
      const problem = await expectProblem(response, 409, "in-use", "excludableDestinations");
      assert.match(problem.detail, /\berp\b.*10\.1\.0\.0\/16/);
    }
    const narrowed = await expectStatus(await h.admin("PUT", "/v1/clusters/alpha", { ...grants, excludableDestinations: ["10.1.0.0/16"] }), 200);
    assert.deepEqual(narrowed.excludableDestinations, ["10.1.0.0/16"]);
  });

  it("does not let an exclusion stored before grants existed block unrelated edits of the cluster", async () => {
    const { h } = await tenants();
    const source = parsePrefix("10.244.1.0/26", "x");
    rows.insertMapping(h.db, { cluster: "alpha", name: "legacy", sourceCidr: source.cidr, egressIp: "203.0.113.10",
      destinations: [], excludedDestinations: ["0.0.0.0/0"], labels: {} }, source, new Date().toISOString());
    const current = await expectStatus(await h.admin("GET", "/v1/clusters/alpha"), 200);
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha",
      { description: "renamed", sourceRanges: current.sourceRanges, egressIps: current.egressIps }), 200);
    // The tenant's next write of that mapping needs the grant.
    const put = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings",
      { mappings: [{ name: "legacy", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", excludedDestinations: ["0.0.0.0/0"] }] }));
    await expectProblem(put, 403, "not-owned", "mappings.0.excludedDestinations.0");
  });
});
