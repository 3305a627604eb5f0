import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { erp, expectProblem, expectStatus, reasonFor, tenants, type Tenants } from "./harness.js";

const web = { description: "the payment provider", destinations: [{ cidr: "198.51.100.0/24", except: ["198.51.100.128/25"] }], protocol: "tcp", ports: [{ port: 443 }] };
const policy = (rules: unknown[] = [web], extra: Record<string, unknown> = {}) => ({ mode: "enforce", defaultAction: "deny", rules, ...extra });

async function withMapping(): Promise<Tenants> {
  const t = await tenants();
  await expectStatus(await t.h.as(t.alpha.token, "PUT", "/v1/clusters/alpha/mappings", {
    mappings: [erp(), { name: "erp-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" }],
  }), 200);
  return t;
}

describe("egress policies (/v1/clusters/{name}/mappings/{mapping}/policy, /policy)", () => {
  it("stores a mapping's policy in canonical form, answers it, audits it, and a second identical PUT changes nothing", async () => {
    const { h, alpha } = await withMapping();
    const before = h.revision();
    const body = await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", {
      rules: [{ destinations: [{ cidr: "198.51.100.0/24", except: ["198.51.100.128/25"] }], protocol: "tcp", ports: [{ port: 8443, endPort: 8443 }, { port: 443 }] }],
    }), 200);
    assert.equal(body.revision, before + 1);
    assert.deepEqual(body.policy, {
      mode: "enforce", defaultAction: "deny",
      rules: [{ description: "", destinations: [{ cidr: "198.51.100.0/24", except: ["198.51.100.128/25"] }], protocol: "tcp", ports: [{ port: 443 }, { port: 8443 }] }],
    });
    assert.equal(body.scope, "mapping");
    assert.deepEqual((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp/policy"), 200)).policy, body.policy);
    const audit = h.audit().at(-1);
    assert.equal(audit?.resource, "clusters/alpha/mappings/erp/policy");
    assert.equal(audit?.action, "create");
    const again = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", body.policy));
    assert.equal((await expectStatus(again, 200)).revision, before + 1);
  });

  it("keeps a cluster's default policy apart from the mappings' own, and deletes each on its own", async () => {
    const { h, alpha } = await withMapping();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/policy", policy([], { mode: "audit" })), 200);
    assert.equal((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/policy"), 200)).scope, "cluster");
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp/policy"), 404, "not-found");
    await expectStatus(await h.as(alpha.token, "DELETE", "/v1/clusters/alpha/policy"), 204);
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/policy"), 404, "not-found");
    await expectProblem(await h.as(alpha.token, "DELETE", "/v1/clusters/alpha/policy"), 404, "not-found");
  });

  it("refuses another cluster's token, and a policy for a mapping that does not exist", async () => {
    const { h, beta, alpha } = await withMapping();
    const unchanged = await h.unchanged(() => h.as(beta.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy()));
    await expectProblem(unchanged, 403, "forbidden");
    await expectProblem(await h.as(beta.token, "GET", "/v1/clusters/alpha/policy"), 403, "forbidden");
    await expectProblem(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/nope/policy", policy()), 404, "not-found");
  });

  it("names the field of every bad input and stores nothing", async () => {
    const { h, alpha } = await withMapping();
    const cases: [unknown, string, RegExp][] = [
      [{ destinations: [{ cidr: "198.51.100.1/24" }] }, "rules.0.destinations.0.cidr", /host bits|not a network|canonical/i],
      [{ destinations: [{ cidr: "fd00::/64" }] }, "rules.0.destinations.0.cidr", /IPv6 prefix in the policy of an IPv4 mapping/],
      [{ destinations: [{ cidr: "198.51.100.0/24", except: ["203.0.113.0/28"] }] }, "rules.0.destinations.0.except.0", /inside 198.51.100.0\/24/],
      [{ destinations: [{ cidr: "198.51.100.0/24" }], protocol: "tcp", ports: [{ port: 0 }] }, "rules.0.ports.0.port", /1-65535/],
      [{ destinations: [{ cidr: "198.51.100.0/24" }], protocol: "tcp", ports: [{ port: 65536 }] }, "rules.0.ports.0.port", /1-65535/],
      [{ destinations: [{ cidr: "198.51.100.0/24" }], protocol: "udp", ports: [{ port: 500, endPort: 400 }] }, "rules.0.ports.0.endPort", /not below port/],
      [{ destinations: [{ cidr: "198.51.100.0/24" }], ports: [{ port: 443 }] }, "rules.0.ports", /need protocol tcp, udp or sctp/],
      [{ destinations: [{ cidr: "198.51.100.0/24" }], protocol: "icmp", ports: [{ port: 1 }] }, "rules.0.ports", /icmp has no ports/],
      [{ destinations: [{ name: "api.*.example.com" }] }, "rules.0.destinations.0.name", /./],
      [{ destinations: [{ name: `${"a".repeat(64)}.example.com` }] }, "rules.0.destinations.0.name", /./],
      [{ destinations: [{ name: "api.example.com", cidr: "198.51.100.0/24" }] }, "rules.0.destinations.0", /exactly one of cidr and name/],
      [{ destinations: [] }, "rules.0.destinations", /./],
    ];
    for (const [rule, field, reason] of cases) {
      const response = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy([rule])));
      const problem = await expectProblem(response, 422, "validation-failed", field);
      assert.match(reasonFor(problem, field), reason, JSON.stringify(rule));
    }
    const manyNames = Array.from({ length: 65 }, (_, i) => ({ destinations: [{ name: `api${i}.example.com` }] }));
    const names = await expectProblem(await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy(manyNames))), 422, "validation-failed", "rules");
    assert.match(reasonFor(names, "rules"), /65 distinct DNS names; at most 64/);
    // 40 rules of 20 hosts and 30 ports each, none adjacent: 24,000 allow elements and the unmatched and verdict entries, past the 20,000 one mapping may hold.
    const huge = Array.from({ length: 40 }, (_, r) => ({
      destinations: Array.from({ length: 20 }, (_, j) => ({ cidr: `198.18.${r}.${j * 2}/32` })),
      protocol: "tcp", ports: Array.from({ length: 30 }, (_, k) => ({ port: 1000 + k * 3 })),
    }));
    const size = await expectProblem(await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy(huge))), 422, "validation-failed", "rules");
    assert.match(reasonFor(size, "rules"), /expands to 24002 kernel elements \(IPv4\); at most 20000/);
    const tooMany = Array.from({ length: 1001 }, () => ({ destinations: [{ cidr: "198.51.100.0/24" }] }));
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy(tooMany))), 422, "validation-failed", "rules");
  });

  it("lets a cluster default mix families, each for the mappings of its own", async () => {
    const { h, alpha } = await withMapping();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/policy", policy([
      { destinations: [{ cidr: "198.51.100.0/24" }, { cidr: "2001:db8:100::/48" }] },
    ])), 200);
  });

  it("refuses to move a mapping with a policy to the other address family (its prefixes would drop out)", async () => {
    const { h, alpha } = await withMapping();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy()), 200);
    const moved = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", {
      mappings: [erp({ sourceCidr: "fd00:10:244:9::/64", egressIp: "2001:db8::10" }), { name: "erp-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" }],
    }));
    assert.match(reasonFor(await expectProblem(moved, 422, "validation-failed", "mappings.0.sourceCidr"), "mappings.0.sourceCidr"), /policy is for IPv4: delete it first/);
  });

  it("deletes a mapping's policy with its mapping", async () => {
    const { h, alpha } = await withMapping();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy()), 200);
    await expectStatus(await h.as(alpha.token, "DELETE", "/v1/clusters/alpha/mappings/erp"), 204);
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/mappings", erp()), 201);
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings/erp/policy"), 404, "not-found");
  });
});

describe("floors (/v1/policy-floor, /v1/clusters/{name}/policy-floor)", () => {
  const rfc1918 = { rules: [{ description: "no private networks", destinations: [{ cidr: "10.0.0.0/8", except: ["10.99.0.0/16"] }] }] };

  it("only an admin sets a floor; a cluster reads the global one and its own", async () => {
    const { h, alpha, beta } = await withMapping();
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/policy-floor", rfc1918)), 403, "forbidden");
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/policy-floor", rfc1918)), 403, "forbidden");
    await expectStatus(await h.admin("PUT", "/v1/policy-floor", rfc1918), 200);
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/policy-floor", { rules: [{ destinations: [{ cidr: "192.0.2.0/24" }], protocol: "udp", ports: [{ port: 53 }] }] }), 200);
    assert.equal((await expectStatus(await h.as(alpha.token, "GET", "/v1/policy-floor"), 200)).scope, "global");
    assert.equal((await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/policy-floor"), 200)).rules.length, 1);
    await expectProblem(await h.as(beta.token, "GET", "/v1/clusters/alpha/policy-floor"), 403, "forbidden");
    await expectProblem(await h.unchanged(() => h.as(alpha.token, "DELETE", "/v1/policy-floor")), 403, "forbidden");
  });

  it("refuses (403 floor-conflict) a policy that allows what a floor denies, naming both rules, and stores nothing", async () => {
    const { h, alpha } = await withMapping();
    await expectStatus(await h.admin("PUT", "/v1/policy-floor", rfc1918), 200);
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/policy-floor", { rules: [{ destinations: [{ cidr: "192.0.2.0/24" }], protocol: "udp", ports: [{ port: 53 }] }] }), 200);
    const wide = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy([{ destinations: [{ cidr: "10.0.0.0/8" }] }])));
    const problem = await expectProblem(wide, 403, "floor-conflict", "rules.0.destinations.0");
    assert.match(reasonFor(problem, "rules.0.destinations.0"), /rule 0 of the global floor/);
    // The carve-out of the floor is allowed, and so is the cluster floor's port on another protocol.
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy([
      { destinations: [{ cidr: "10.99.1.0/24" }] }, { destinations: [{ cidr: "192.0.2.0/24" }], protocol: "tcp", ports: [{ port: 53 }] },
    ])), 200);
    const dns = await h.unchanged(() => h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings/erp/policy", policy([{ destinations: [{ cidr: "192.0.2.0/25" }], protocol: "udp", ports: [{ port: 50, endPort: 60 }] }])));
    assert.match(reasonFor(await expectProblem(dns, 403, "floor-conflict", "rules.0.destinations.0"), "rules.0.destinations.0"), /floor of cluster alpha/);
    // Even an admin cannot write a cluster policy through the floor.
    await expectProblem(await h.unchanged(() => h.admin("PUT", "/v1/clusters/alpha/policy", policy([{ destinations: [{ cidr: "10.0.0.0/16" }] }]))), 403, "floor-conflict");
  });

  it("refuses a floor with a DNS name (422)", async () => {
    const { h } = await withMapping();
    await expectProblem(await h.unchanged(() => h.admin("PUT", "/v1/policy-floor", { rules: [{ destinations: [{ name: "example.com" }] }] })), 422, "validation-failed");
  });
});
