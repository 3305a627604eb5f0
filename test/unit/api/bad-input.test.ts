/**
 * The brief's "Bad input gets a clear error and changes nothing": every category, each with its exact status,
 * problem code, the field it names, and a check that the store (every table, the revision) and the data plane
 * are exactly as they were.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePrefix } from "../../../appliance/net/cidr.js";
import * as rows from "../../../appliance/store/rows.js";
import { ADMIN_TOKEN, BODY_LIMIT, erp, expectProblem, expectStatus, grantExclusions, Harness, reasonFor, tenants } from "./harness.js";

describe("bad input: malformed JSON (400)", () => {
  const bodies = ['{"address": "203.0.113.9"', "{address: '203.0.113.9'}", '{"address": "203.0.113.9",}', "not json at all", "{}}"];
  for (const text of bodies) {
    it(`answers ${JSON.stringify(text)} with 400 malformed-json, changing nothing`, async () => {
      const { h } = await tenants();
      const response = await h.unchanged(() => h.call("POST", "/v1/egress-ips", { token: ADMIN_TOKEN, body: text }));
      await expectProblem(response, 400, "malformed-json");
    });
  }

  it("answers a malformed mapping set with 400, changing nothing", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp()] }), 200);
    const response = await h.unchanged(() => h.call("PUT", "/v1/clusters/alpha/mappings",
      { token: alpha.token, body: '{"mappings": [{"name": "erp", "sourceCidr": "10.244.1.0/26",' }));
    await expectProblem(response, 400, "malformed-json");
  });
});

describe("bad input: JSON of the wrong shape (422)", () => {
  for (const text of ["[]", "null", '"a string"', "42", "true"]) {
    it(`answers the body ${text} with 422, changing nothing`, async () => {
      const { h } = await tenants();
      const response = await h.unchanged(() => h.call("PUT", "/v1/clusters/alpha/mappings", { token: ADMIN_TOKEN, body: text }));
      await expectProblem(response, 422, "validation-failed");
    });
  }

  it("answers wrong types with 422 naming each field, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings", { name: "erp", sourceCidr: 42, egressIp: ["203.0.113.10"] }));
    const problem = await expectProblem(response, 422, "validation-failed", "sourceCidr");
    reasonFor(problem, "egressIp");
    const set = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: { erp: erp() } }));
    await expectProblem(set, 422, "validation-failed", "mappings");
  });

  it("answers missing required fields with 422 naming them, changing nothing", async () => {
    const { h } = await tenants();
    const problem = await expectProblem(await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings", { name: "erp" })),
      422, "validation-failed", "sourceCidr");
    reasonFor(problem, "egressIp");
  });
});

describe("bad input: unknown fields (422)", () => {
  const cases: [string, string, string, unknown, string][] = [
    ["an egress IP", "POST", "/v1/egress-ips", { address: "203.0.113.99", colour: "red" }, "colour"],
    ["an egress IP update", "PATCH", "/v1/egress-ips/203.0.113.30", { description: "x", cluster: "alpha" }, "cluster"],
    ["a cluster", "POST", "/v1/clusters", { name: "gamma", owner: "net" }, "owner"],
    ["a cluster replacement", "PUT", "/v1/clusters/alpha", { sourceRanges: ["10.244.0.0/16"], name: "alpha" }, "name"],
    ["a mapping", "POST", "/v1/clusters/alpha/mappings", erp({ priority: 1 }), "priority"],
    ["a mapping inside a set", "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp(), { ...erp({ name: "crm", sourceCidr: "10.244.2.0/24" }), sourcecidr: "x" }] }, "mappings.1.sourcecidr"],
    ["a mapping set", "PUT", "/v1/clusters/alpha/mappings", { mappings: [], dryRun: true }, "dryRun"],
    ["a route", "POST", "/v1/clusters/alpha/routes", { prefix: "10.244.1.0/24", via: "172.31.0.11", metric: 5 }, "metric"],
    ["a route inside a set", "PUT", "/v1/clusters/alpha/routes", { routes: [{ prefix: "10.244.1.0/24", via: "172.31.0.11", dev: "eth0" }] }, "routes.0.dev"],
  ];
  for (const [what, method, path, body, field] of cases) {
    it(`refuses an unknown field in ${what} with 422 naming ${field}, changing nothing`, async () => {
      const { h } = await tenants();
      const response = await h.unchanged(() => h.admin(method, path, body));
      const problem = await expectProblem(response, 422, "validation-failed", field);
      assert.equal(reasonFor(problem, field), "unknown field");
    });
  }
});

describe("bad input: CIDR with host bits set (422, naming the canonical CIDR)", () => {
  const cases: [string, string, string, unknown, string, string][] = [
    ["a mapping's source", "POST", "/v1/clusters/alpha/mappings", erp({ sourceCidr: "10.244.1.5/26" }), "sourceCidr", "10.244.1.0/26"],
    ["an IPv6 mapping's source", "POST", "/v1/clusters/alpha/mappings", { name: "v6", sourceCidr: "fd00:10:244:1::5/64", egressIp: "2001:db8::10" }, "sourceCidr", "fd00:10:244:1::/64"],
    ["a source inside a set", "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp(), { name: "crm", sourceCidr: "10.244.2.1/24", egressIp: "203.0.113.11" }] }, "mappings.1.sourceCidr", "10.244.2.0/24"],
    ["a destination", "POST", "/v1/clusters/alpha/mappings", erp({ destinations: ["192.0.2.0/24", "198.51.100.7/24"] }), "destinations.1", "198.51.100.0/24"],
    ["an excluded destination", "POST", "/v1/clusters/alpha/mappings", erp({ excludedDestinations: ["10.1.2.3/8"] }), "excludedDestinations.0", "10.0.0.0/8"],
    ["a route prefix", "POST", "/v1/clusters/alpha/routes", { prefix: "10.244.1.9/24", via: "172.31.0.11" }, "prefix", "10.244.1.0/24"],
    ["a cluster source range", "PUT", "/v1/clusters/alpha", { sourceRanges: ["10.244.0.0/16", "fd00:10:244::1/48"] }, "sourceRanges.1", "fd00:10:244::/48"],
  ];
  for (const [what, method, path, body, field, canonical] of cases) {
    it(`refuses host bits in ${what} with 422 at ${field}, suggesting ${canonical}, changing nothing`, async () => {
      const { h } = await tenants();
      const response = await h.unchanged(() => h.admin(method, path, body));
      const problem = await expectProblem(response, 422, "validation-failed", field);
      assert.ok(reasonFor(problem, field).includes(canonical), `reason should name ${canonical}: ${reasonFor(problem, field)}`);
      assert.ok(problem.detail.includes(canonical), `detail should name ${canonical}: ${problem.detail}`);
    });
  }

  for (const sourceCidr of ["10.244.1.0", "10.244.1.0/33", "10.244.1.0/-1", "10.244.1.0/abc", "10.244/16", "fd00::/129"]) {
    it(`refuses the malformed CIDR ${sourceCidr} with 422 at sourceCidr, changing nothing`, async () => {
      const { h } = await tenants();
      await expectProblem(await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings", erp({ sourceCidr }))), 422, "validation-failed", "sourceCidr");
    });
  }
});

describe("bad input: address family mismatch (422)", () => {
  it("refuses an IPv6 egress IP for an IPv4 source, even one granted to the cluster, changing nothing", async () => {
    const { h, alpha } = await tenants();
    const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ egressIp: "2001:db8::10" })));
    const problem = await expectProblem(response, 422, "validation-failed", "egressIp");
    assert.match(reasonFor(problem, "egressIp"), /IPv6.*IPv4/);
  });

  it("refuses an IPv4 egress IP for an IPv6 source inside a set, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings",
      { mappings: [erp(), { name: "v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "203.0.113.11" }] }));
    await expectProblem(response, 422, "validation-failed", "mappings.1.egressIp");
  });

  it("refuses an IPv6 destination for an IPv4 source, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings", erp({ destinations: ["2001:db8:100::/48"] })));
    await expectProblem(response, 422, "validation-failed", "destinations.0");
  });

  it("refuses an IPv6 next hop for an IPv4 route, changing nothing", async () => {
    const { h, alpha } = await tenants();
    const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", { prefix: "10.244.1.0/24", via: "fd00:172:31::11" }));
    const problem = await expectProblem(response, 422, "validation-failed", "via");
    assert.match(reasonFor(problem, "via"), /IPv6.*IPv4/);
  });

  for (const [via, reason] of [["172.31.0.255", /broadcast address of the inside subnet 172\.31\.0\.0\/24/], ["172.31.0.0", /address of the inside subnet/], ["fd00:172:31::", /address of the inside subnet/]] as const) {
    it(`refuses the inside subnet's ${via} as a next hop (the kernel would refuse the route), changing nothing`, async () => {
      const { h, alpha } = await tenants();
      const prefix = via.includes(":") ? "fd00:10:244:1::/64" : "10.244.1.0/24";
      const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", { prefix, via }));
      const problem = await expectProblem(response, 422, "validation-failed", "via");
      assert.match(reasonFor(problem, "via"), reason);
    });
  }

  it("refuses an IPv4 next hop for an IPv6 route inside a set, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/routes",
      { routes: [{ prefix: "10.244.1.0/24", via: "172.31.0.11" }, { prefix: "fd00:10:244:1::/64", via: "172.31.0.11" }] }));
    await expectProblem(response, 422, "validation-failed", "routes.1.via");
  });
});

describe("bad input: a gateway's own address (422)", () => {
  it("refuses a gateway address as an egress IP, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("POST", "/v1/egress-ips", { address: "203.0.113.1" }));
    const problem = await expectProblem(response, 422, "validation-failed", "address");
    assert.match(problem.detail, /203\.0\.113\.1\b/);
  });

  it("refuses a gateway address as a route's next hop, changing nothing", async () => {
    const { h, alpha } = await tenants();
    const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", { prefix: "10.244.1.0/24", via: "172.31.0.1" }));
    const problem = await expectProblem(response, 422, "validation-failed", "via");
    assert.match(reasonFor(problem, "via"), /gateway/);
  });
});

// BUG: parseAddress() accepts any syntactically valid address, so the unspecified, loopback, multicast and
// broadcast addresses are taken as egress IPs (a VIP no gateway can own or SNAT to) and as next hops; the
// failure only shows later, when the data plane cannot apply the revision.
describe("bad input: addresses no gateway can own or route via (422)", () => {
  it("refuses the unspecified, loopback, multicast and broadcast addresses as egress IPs with 422 naming 'address', changing nothing", async () => {
    const { h } = await tenants();
    for (const address of ["0.0.0.0", "::", "127.0.0.1", "::1", "224.0.0.1", "ff02::1", "255.255.255.255"]) {
      const response = await h.unchanged(() => h.admin("POST", "/v1/egress-ips", { address }));
      await expectProblem(response, 422, "validation-failed", "address");
    }
  });

  it("refuses the unspecified, loopback, multicast and broadcast addresses as a route's next hop with 422 naming 'via', changing nothing", async () => {
    const { h, alpha } = await tenants();
    for (const via of ["0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255"]) {
      const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", { prefix: "10.244.1.0/24", via }));
      await expectProblem(response, 422, "validation-failed", "via");
    }
  });
});

describe("bad input: names that are not DNS labels (422)", () => {
  const badNames: [string, string][] = [
    ["uppercase", "Prod"],
    ["64 characters", "a".repeat(64)],
    ["a leading '-'", "-prod"],
    ["a trailing '-'", "prod-"],
    ["empty", ""],
    ["unicode", "clüster"],
    ["a NUL byte", "a\u0000b"],
    ["an underscore", "prod_eu"],
    ["a dot", "prod.eu"],
    ["a space", "prod eu"],
  ];

  it("accepts a 63-character label, so the 64-character refusal below is about length", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("POST", "/v1/clusters", { name: "a".repeat(63) }), 201);
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp({ name: "m".repeat(63) })), 201);
  });

  for (const [what, name] of badNames) {
    it(`refuses a cluster name with ${what} with 422 naming 'name', changing nothing`, async () => {
      const { h } = await tenants();
      const response = await h.unchanged(() => h.admin("POST", "/v1/clusters", { name }));
      const problem = await expectProblem(response, 422, "validation-failed", "name");
      assert.match(reasonFor(problem, "name"), /DNS label/);
    });

    it(`refuses a mapping name with ${what} with 422 naming it, changing nothing`, async () => {
      const { h, alpha } = await tenants();
      const post = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ name })));
      await expectProblem(post, 422, "validation-failed", "name");
      const put = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp({ name })] }));
      await expectProblem(put, 422, "validation-failed", "mappings.0.name");
    });
  }

  for (const [what, segment] of [["uppercase", "Alpha"], ["unicode", "cl%C3%BCster"], ["a NUL byte", "al%00pha"], ["64 characters", "a".repeat(64)]] as const) {
    it(`refuses a cluster name with ${what} in the path with 422 naming 'name', changing nothing`, async () => {
      const { h } = await tenants();
      await expectProblem(await h.admin("GET", `/v1/clusters/${segment}/mappings`), 422, "validation-failed", "name");
      const put = await h.unchanged(() => h.admin("PUT", `/v1/clusters/${segment}/mappings`, { mappings: [] }));
      await expectProblem(put, 422, "validation-failed", "name");
    });
  }
});

describe("bad input: overlapping source CIDRs (409)", () => {
  it("refuses a source CIDR overlapping another mapping of the same cluster, naming that mapping, changing nothing", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp()), 201);
    for (const sourceCidr of ["10.244.1.0/24", "10.244.1.32/27", "10.244.1.0/26"]) {
      const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings",
        { name: "crm", sourceCidr, egressIp: "203.0.113.11" }));
      const problem = await expectProblem(response, 409, "overlap", "sourceCidr");
      assert.match(problem.detail, /\berp\b/);
      assert.match(problem.detail, /10\.244\.1\.0\/26/);
      assert.deepEqual(problem.conflictsWith, { cluster: "alpha", cidr: "10.244.1.0/26", name: "erp" });
    }
  });

  it("refuses two overlapping mappings within one PUT, naming both, changing nothing", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [{ name: "old", sourceCidr: "10.244.9.0/24", egressIp: "203.0.113.11" }] }), 200);
    const response = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings",
      { mappings: [erp(), { name: "crm", sourceCidr: "10.244.0.0/23", egressIp: "203.0.113.11" }] }));
    const problem = await expectProblem(response, 409, "overlap");
    assert.match(problem.detail, /\berp\b/);
    assert.match(problem.detail, /\bcrm\b/);
    assert.ok((problem.fields as { field: string }[]).some((f) => /^mappings\.[01]\.sourceCidr$/.test(f.field)), JSON.stringify(problem.fields));
  });

  it("refuses two identical source CIDRs within one PUT with 409, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings",
      { mappings: [erp(), { name: "crm", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.11" }] }));
    await expectProblem(response, 409, "overlap");
  });

  it("refuses a source CIDR inside another cluster's mapping: 403 not-owned, since source ranges are exclusive", async () => {
    const { h, beta } = await tenants();
    await expectStatus(await h.as(beta.token, "POST", "/v1/clusters/beta/mappings", { name: "web", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.20" }), 201);
    const response = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings", erp({ sourceCidr: "10.245.1.0/25" })));
    await expectProblem(response, 403, "not-owned", "sourceCidr");
  });

  it("refuses a source CIDR overlapping another cluster's mapping (stored before a range change) with 409 naming it", async () => {
    // Source ranges are exclusive, so the API alone cannot create this state; it is seeded in the store to
    // exercise the store-wide overlap check, the last line of defence for the security rule.
    const { h } = await tenants();
    const source = parsePrefix("10.244.5.0/24", "x");
    rows.insertMapping(h.db, { cluster: "beta", name: "web", sourceCidr: source.cidr, egressIp: "203.0.113.20",
      destinations: [], excludedDestinations: [], labels: {} }, source, new Date().toISOString());
    const post = await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/mappings", erp({ sourceCidr: "10.244.5.128/25" })));
    const problem = await expectProblem(post, 409, "overlap", "sourceCidr");
    assert.match(problem.detail, /mapping web of cluster beta/);
    const put = await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [erp({ sourceCidr: "10.244.4.0/23" })] }));
    const setProblem = await expectProblem(put, 409, "overlap", "mappings.0.sourceCidr");
    assert.match(setProblem.detail, /mapping web of cluster beta/);
  });
});

describe("bad input: what the cluster does not own (403 not-owned)", () => {
  for (const [what, egressIp] of [["granted to another cluster", "203.0.113.20"], ["granted to no cluster", "203.0.113.30"], ["that does not exist", "198.51.100.99"]] as const) {
    it(`refuses an egress IP ${what}, changing nothing`, async () => {
      const { h, alpha } = await tenants();
      const post = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ egressIp })));
      const problem = await expectProblem(post, 403, "not-owned", "egressIp");
      assert.match(problem.detail, new RegExp(egressIp.replaceAll(".", "\\.")));
      const put = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings",
        { mappings: [{ name: "ok", sourceCidr: "10.244.9.0/24", egressIp: "203.0.113.11" }, erp({ egressIp })] }));
      await expectProblem(put, 403, "not-owned", "mappings.1.egressIp");
    });
  }

  for (const [what, sourceCidr] of [["another cluster's range", "10.245.1.0/24"], ["no cluster's range", "10.250.0.0/24"], ["partly outside the range", "10.244.0.0/15"]] as const) {
    it(`refuses a source CIDR in ${what}, changing nothing`, async () => {
      const { h, alpha } = await tenants();
      const post = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ sourceCidr })));
      await expectProblem(post, 403, "not-owned", "sourceCidr");
      const put = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp({ sourceCidr })] }));
      await expectProblem(put, 403, "not-owned", "mappings.0.sourceCidr");
    });
  }

  it("refuses a route prefix outside the cluster's ranges, changing nothing", async () => {
    const { h, alpha } = await tenants();
    const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", { prefix: "10.245.0.0/24", via: "172.31.0.11" }));
    const problem = await expectProblem(response, 403, "not-owned", "prefix");
    assert.match(problem.detail, /10\.245\.0\.0\/24/);
  });
});

describe("bad input: overlapping or duplicate prefixes within one list (422)", () => {
  const cases: [string, string, unknown, string, string][] = [
    ["overlapping destinations", "/v1/clusters/alpha/mappings", erp({ destinations: ["10.0.0.0/8", "10.1.0.0/16"] }), "destinations.1", "overlaps destinations.0 (10.0.0.0/8)"],
    ["duplicate destinations", "/v1/clusters/alpha/mappings", erp({ destinations: ["192.0.2.0/24", "192.0.2.0/24"] }), "destinations.1", "overlaps destinations.0 (192.0.2.0/24)"],
    ["overlapping excluded destinations", "/v1/clusters/alpha/mappings", erp({ excludedDestinations: ["10.1.0.0/16", "10.1.2.0/24"] }), "excludedDestinations.1", "overlaps excludedDestinations.0 (10.1.0.0/16)"],
    ["overlapping excludable destinations of a cluster", "/v1/clusters", { name: "gamma", excludableDestinations: ["10.0.0.0/8", "10.0.0.0/8"] }, "excludableDestinations.1", "overlaps excludableDestinations.0 (10.0.0.0/8)"],
  ];
  for (const [what, path, body, field, reason] of cases) {
    it(`refuses ${what} with 422 at ${field}, changing nothing`, async () => {
      const { h } = await tenants();
      await grantExclusions(h, "alpha", ["10.0.0.0/8"]);
      const problem = await expectProblem(await h.unchanged(() => h.admin("POST", path, body)), 422, "validation-failed", field);
      assert.equal(reasonFor(problem, field), reason);
    });
  }

  it("refuses overlapping destinations inside a set with 422 at mappings.N.destinations.M, changing nothing", async () => {
    const { h, alpha } = await tenants();
    const response = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings",
      { mappings: [{ name: "ok", sourceCidr: "10.244.9.0/24", egressIp: "203.0.113.11" }, erp({ destinations: ["198.51.100.0/24", "198.51.100.128/25"] })] }));
    await expectProblem(response, 422, "validation-failed", "mappings.1.destinations.1");
  });
});

describe("bad input: control characters in labels (422)", () => {
  it("refuses a label value with an escape sequence or a C1 control, changing nothing", async () => {
    const { h, alpha } = await tenants();
    for (const value of ["\u001b]0;owned\u0007", "\u009b2J"]) {
      const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ labels: { app: value } })));
      await expectProblem(response, 422, "validation-failed", "labels.app");
    }
  });
});

describe("bad input: quota overrides out of range (422)", () => {
  for (const quotas of [{ mappings: 0 }, { routes: 1_000_001 }, { destinations: 1.5 }]) {
    it(`refuses quotas ${JSON.stringify(quotas)} with 422, changing nothing`, async () => {
      const { h } = await tenants();
      const response = await h.unchanged(() => h.admin("PUT", "/v1/clusters/beta", { sourceRanges: ["10.245.0.0/16"], egressIps: ["203.0.113.20"], quotas }));
      await expectProblem(response, 422, "validation-failed", `quotas.${Object.keys(quotas)[0]}`);
    });
  }
});

describe("bad input: exclusions the admin did not grant (403 not-owned)", () => {
  for (const excluded of ["0.0.0.0/0", "10.0.0.0/7", "192.0.2.0/24"]) {
    it(`refuses excluding ${excluded} outside the grant 10.0.0.0/8, changing nothing`, async () => {
      const { h, alpha } = await tenants();
      await grantExclusions(h, "alpha", ["10.0.0.0/8"]);
      const post = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp({ excludedDestinations: [excluded] })));
      await expectProblem(post, 403, "not-owned", "excludedDestinations.0");
      const put = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp({ excludedDestinations: [excluded] })] }));
      await expectProblem(put, 403, "not-owned", "mappings.0.excludedDestinations.0");
    });
  }
});

describe("bad input: over the cluster's quota (403 quota-exceeded)", () => {
  const quotas = { mappings: 1, routes: 1, destinations: 1 };
  const cases: [string, string, string, unknown, string][] = [
    ["a mapping set", "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp(), { name: "crm", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11" }] }, "quotas.mappings"],
    ["a mapping's destinations", "POST", "/v1/clusters/alpha/mappings", erp({ destinations: ["192.0.2.0/24", "198.51.100.0/24"] }), "quotas.destinations"],
    ["a route set", "PUT", "/v1/clusters/alpha/routes", { routes: [{ prefix: "10.244.1.0/24", via: "172.31.0.11" }, { prefix: "10.244.2.0/24", via: "172.31.0.12" }] }, "quotas.routes"],
  ];
  for (const [what, method, path, body, field] of cases) {
    it(`refuses ${what} over the quota, naming ${field}, changing nothing`, async () => {
      const { h, alpha } = await tenants(new Harness({ quotas }));
      const problem = await expectProblem(await h.unchanged(() => h.as(alpha.token, method, path, body)), 403, "quota-exceeded", field);
      assert.equal(problem.quota.limit, 1);
      assert.equal(problem.quota.requested, 2);
    });
  }
});

describe("bad input: too many requests (429 rate-limited, with Retry-After)", () => {
  it("refuses a write with a bad token from an address after too many failed authentications, changing nothing", async () => {
    const { h } = await tenants(new Harness({ authFailures: { max: 3, windowMs: 10_000 } }));
    const wrong = "egw_wrong-wrong-wrong-wrong-wrong-wrong-wrong";
    for (let i = 0; i < 3; i++) await h.call("GET", "/v1/egress-ips", { token: wrong, from: "198.51.100.9" });
    const response = await h.unchanged(() => h.call("POST", "/v1/egress-ips", { token: wrong, body: { address: "203.0.113.99" }, from: "198.51.100.9" }));
    assert.equal(response.headers.get("retry-after"), "10");
    await expectProblem(response, 429, "rate-limited");
  });

  it("refuses a write of a cluster token over its rate, changing nothing", async () => {
    const { h, alpha } = await tenants(new Harness({ rateLimit: { requestsPerSecond: 1, burst: 1 } }));
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200);
    const response = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp()] }));
    assert.equal(response.headers.get("retry-after"), "1");
    await expectProblem(response, 429, "rate-limited");
  });

  it("refuses a second whole-set PUT while the cluster's first is in flight, changing nothing", async () => {
    const { h, alpha } = await tenants();
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const text = new TextEncoder().encode(JSON.stringify({ mappings: [erp()] }));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(text.slice(0, 3));
        await gate;
        controller.enqueue(text.slice(3));
        controller.close();
      },
    });
    const first = h.app.request("/v1/clusters/alpha/mappings", { method: "PUT", body, duplex: "half",
      headers: { authorization: `Bearer ${alpha.token}`, "content-type": "application/json" } } as RequestInit);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    const second = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [] }));
    assert.equal(second.headers.get("retry-after"), "1");
    await expectProblem(second, 429, "rate-limited");
    release();
    await expectStatus(await first, 200);
  });
});

describe("bad input: a single-item write is small whatever the whole-set limit (413)", () => {
  it("refuses a 100 KiB POST although PUTs may carry 4 MiB, changing nothing; a PUT of the same size is read", async () => {
    const { h, alpha } = await tenants(new Harness({ bodyLimitBytes: 4 * 1024 * 1024 }));
    const padded = erp({ labels: { note: "x".repeat(250) } });
    const response = await h.unchanged(() => h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", { ...padded, padding: "y".repeat(100 * 1024) }));
    const problem = await expectProblem(response, 413, "payload-too-large");
    assert.match(problem.detail, /not a whole-set PUT is larger than 65536 bytes/);
    // The PUT passes the body limit and is refused for its unknown field instead.
    await expectProblem(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [padded], padding: "y".repeat(100 * 1024) }), 422, "validation-failed");
  });
});

describe("bad input: body over the limit (413)", () => {
  const big = () => ({ mappings: [erp({ labels: { note: "x".repeat(250) } })], padding: "y".repeat(BODY_LIMIT) });

  it("refuses a body whose Content-Length is over the limit with 413, changing nothing", async () => {
    const { h, alpha } = await tenants();
    const response = await h.unchanged(() => h.call("PUT", "/v1/clusters/alpha/mappings", { token: alpha.token, body: big() }));
    await expectProblem(response, 413, "payload-too-large");
  });

  it("refuses an over-limit body sent without Content-Length with 413, changing nothing", async () => {
    const { h, alpha } = await tenants();
    const response = await h.unchanged(() => h.call("PUT", "/v1/clusters/alpha/mappings", { token: alpha.token, body: big(), omitContentLength: true }));
    await expectProblem(response, 413, "payload-too-large");
  });

  it("accepts a body just under the limit", async () => {
    const { h } = await tenants();
    const description = "d".repeat(200);
    const mappings = Array.from({ length: 150 }, (_, i) => ({ name: `m${i}`, sourceCidr: `10.244.${i}.0/24`, egressIp: "203.0.113.10", labels: { note: description } }));
    const text = JSON.stringify({ mappings });
    assert.ok(text.length > BODY_LIMIT / 2 && text.length < BODY_LIMIT, `body is ${text.length} bytes`);
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings }), 200);
  });
});

describe("bad input: a body that is not JSON (415)", () => {
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]) {
    it(`refuses Content-Type ${type} with 415, changing nothing`, async () => {
      const { h } = await tenants();
      const response = await h.unchanged(() => h.call("POST", "/v1/clusters/alpha/tokens",
        { token: ADMIN_TOKEN, body: { description: "x" }, headers: { "content-type": type } }));
      await expectProblem(response, 415, "unsupported-media-type");
    });
  }

  it("refuses a body with no Content-Type with 415, changing nothing", async () => {
    const { h } = await tenants();
    const body = JSON.stringify({ address: "203.0.113.99" });
    const response = await h.unchanged(() => h.raw("/v1/egress-ips", {
      method: "POST", body: new TextEncoder().encode(body),
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-length": String(body.length) },
    }));
    await expectProblem(response, 415, "unsupported-media-type");
  });

  it("accepts application/json with a charset", async () => {
    const { h } = await tenants();
    await expectStatus(await h.call("POST", "/v1/egress-ips",
      { token: ADMIN_TOKEN, body: { address: "203.0.113.99" }, headers: { "content-type": "application/json; charset=utf-8" } }), 201);
  });

  // BUG: without Content-Length (an HTTP/2 client, a chunked upload through some proxies, an in-process fetch)
  // jsonOnly() lets the request through, @hono/zod-openapi's own media-type gate then throws
  // HTTPException(415), and api/problem.ts toProblem() has no case for 415, so the client gets
  // 500 "internal" (and the daemon logs an error) instead of 415 unsupported-media-type.
  it("refuses a non-JSON body sent without Content-Length with 415, not 500 internal, changing nothing", async () => {
    const { h } = await tenants();
    for (const type of ["text/plain", "application/merge-patch+json"]) {
      const response = await h.unchanged(() => h.call("POST", "/v1/clusters/alpha/tokens",
        { token: ADMIN_TOKEN, body: JSON.stringify({ description: "x" }), headers: { "content-type": type }, omitContentLength: true }));
      await expectProblem(response, 415, "unsupported-media-type");
    }
  });
});

describe("bad input: bad or revoked token (401)", () => {
  it("refuses a write with an unknown token with 401, changing nothing", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.as("egw_not-a-real-token-not-a-real-token-xxxxxxx", "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp()] }));
    await expectProblem(response, 401, "unauthorized");
  });

  it("refuses a write with a revoked token with 401, changing nothing", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.admin("DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`), 200);
    const response = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp()] }));
    await expectProblem(response, 401, "unauthorized");
  });
});

describe("bad input: unknown paths", () => {
  it("answers an unknown path with a 404 problem", async () => {
    const { h } = await tenants();
    await expectProblem(await h.admin("GET", "/v1/nothing-here"), 404, "not-found");
    await expectProblem(await h.unchanged(() => h.admin("POST", "/v1/clusters/alpha/nothing", {})), 404, "not-found");
  });
});
