import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PeerClient } from "../../../appliance/replication/peer-client.js";
import { installHa } from "./ha-deps.js";
import { ADMIN_TOKEN, ALICE_TOKEN, BODY_LIMIT, erp, expectProblem, expectStatus, Harness, tenants } from "./harness.js";

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
    assert.deepEqual(body, { egressIps: [], next: null });
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

describe("API authentication: a cluster token already seen", () => {
  // Each case uses the token first, so that it is known to the API when it stops being valid.
  it("is refused on the very next request once its cluster is deleted (its tokens go with it)", async () => {
    const { h, beta } = await tenants();
    await expectStatus(await h.as(beta.token, "GET", "/v1/clusters/beta/mappings"), 200);
    await expectStatus(await h.admin("DELETE", "/v1/clusters/beta"), 204);
    await expectProblem(await h.as(beta.token, "GET", "/v1/clusters/beta/mappings"), 401, "unauthorized");
  });

  it("is refused on the very next request once a replicated revision revoked it", async () => {
    const { h, alpha } = await tenants();
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200);
    // What a follower does with the leader's revocation: rows changed in one transaction, then announced.
    h.store.applyExternal(h.revision() + 1, () => {
      h.db.prepare("UPDATE revision SET value = value + 1 WHERE id = 1").run();
      h.db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ?").run(new Date().toISOString(), alpha.id);
    });
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 401, "unauthorized");
  });

  it("keeps its own cluster after other writes: a token never reaches another cluster's data", async () => {
    const { h, alpha, beta } = await tenants();
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200);
    await expectStatus(await h.as(beta.token, "GET", "/v1/clusters/beta/mappings"), 200);
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/tokens", { description: "another" }), 201);
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/beta/mappings"), 403, "forbidden");
    await expectProblem(await h.as(beta.token, "GET", "/v1/clusters/alpha/mappings"), 403, "forbidden");
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200);
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
    ["PUT", "/v1/clusters/alpha", { sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"], excludableDestinations: ["0.0.0.0/0"], quotas: { mappings: 1_000_000 } }],
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

  it("shows a cluster token only its own part of the apply report: never another tenant's held-back change or next hops", async () => {
    const { h, alpha } = await tenants();
    h.dataplane.report = {
      revision: 3, ok: true, at: "now", durationMs: 1, kind: "incremental",
      isolated: [{ cluster: "beta", error: "File exists: 10.245.9.0/24 . 10.1.0.0/16" }, { cluster: "alpha", error: "File exists: 10.244.1.0/26 . 10.1.0.0/16" }],
      unresolvedNextHops: ["172.31.0.99"],
    };
    const own = (await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/status"), 200)).gateways[0].lastApply;
    assert.deepEqual(own.isolated, [{ cluster: "alpha", error: "File exists: 10.244.1.0/26 . 10.1.0.0/16" }]);
    assert.equal(own.unresolvedNextHops, undefined);
    assert.ok(!JSON.stringify(own).includes("10.245.9.0"), "nothing of beta's");
    const full = (await expectStatus(await h.admin("GET", "/v1/clusters/alpha/status"), 200)).gateways[0].lastApply;
    assert.equal(full.isolated.length, 2, "the admin sees everything");
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

describe("API authentication: the 401 challenge", () => {
  it("names the Bearer scheme and realm when no token is sent", async () => {
    const h = new Harness();
    const response = await h.raw("/v1/egress-ips");
    assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="egw"');
    await expectProblem(response, 401, "unauthorized");
  });

  it("adds error=\"invalid_token\" when a token was sent but is unknown or revoked", async () => {
    const { h, alpha } = await tenants();
    const unknown = await h.as("egw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/v1/clusters/alpha");
    assert.equal(unknown.headers.get("www-authenticate"), 'Bearer realm="egw", error="invalid_token"');
    await expectStatus(await h.admin("DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`), 200);
    const revoked = await h.as(alpha.token, "GET", "/v1/clusters/alpha");
    assert.equal(revoked.headers.get("www-authenticate"), 'Bearer realm="egw", error="invalid_token"');
  });

  it("answers a header of another scheme with the plain challenge", async () => {
    const h = new Harness();
    const response = await h.raw("/v1/egress-ips", { headers: { authorization: "Basic YWRtaW46YWRtaW4=" } });
    assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="egw"');
  });

  it("leaves /healthz and /readyz open", async () => {
    const h = new Harness();
    await expectStatus(await h.raw("/healthz"), 200);
    await expectStatus(await h.raw("/readyz"), 503);
  });
});

describe("API authentication: named admin tokens", () => {
  it("accepts each named admin token and audits its writes as admin:<name>, the single token file's as admin", async () => {
    const h = new Harness();
    await expectStatus(await h.as(ALICE_TOKEN, "POST", "/v1/egress-ips", { address: "203.0.113.10" }), 201);
    await expectStatus(await h.admin("POST", "/v1/egress-ips", { address: "203.0.113.11" }), 201);
    assert.deepEqual(h.audit().map((a) => a.actor), ["admin:alice", "admin"]);
  });

  it("gives a named admin token every admin right", async () => {
    const { h } = await tenants();
    for (const path of ["/v1/egress-ips", "/v1/clusters", "/v1/status", "/v1/clusters/alpha/tokens", "/v1/clusters/beta/mappings"]) {
      await expectStatus(await h.as(ALICE_TOKEN, "GET", path), 200);
    }
  });
});

describe("API authentication: failed-authentication limit per client address", () => {
  const bad = "egw_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

  it("answers a burst of bad tokens with 429 and Retry-After, while a valid token from that same (shared) address is still served", async () => {
    const { h } = await tenants(new Harness({ authFailures: { max: 20, windowMs: 60_000 } }));
    for (let i = 0; i < 20; i++) {
      await expectProblem(await h.call("GET", "/v1/clusters", { token: bad, from: "192.0.2.66" }), 401, "unauthorized");
    }
    const limited = await h.call("GET", "/v1/clusters", { token: bad, from: "192.0.2.66" });
    assert.equal(limited.headers.get("retry-after"), "60");
    const problem = await expectProblem(limited, 429, "rate-limited");
    assert.match(problem.detail, /192\.0\.2\.66/);
    // The address may be shared (a node's hostNetwork pods, a NAT): another tenant's valid token is not locked out.
    await expectStatus(await h.call("GET", "/v1/clusters", { token: ADMIN_TOKEN, from: "192.0.2.66" }), 200);
    h.now += 30_000;
    assert.equal((await h.call("GET", "/v1/clusters", { token: bad, from: "192.0.2.66" })).headers.get("retry-after"), "30");
    h.now += 30_000;
    await expectProblem(await h.call("GET", "/v1/clusters", { token: bad, from: "192.0.2.66" }), 401, "unauthorized");
  });

  it("counts an IPv6 client by its /64, so rotating addresses within it does not help", async () => {
    const h = new Harness({ authFailures: { max: 3, windowMs: 60_000 } });
    for (const suffix of ["1", "2", "3"]) await expectProblem(await h.call("GET", "/v1/clusters", { token: bad, from: `2001:db8:7:7::${suffix}` }), 401, "unauthorized");
    await expectProblem(await h.call("GET", "/v1/clusters", { token: bad, from: "2001:db8:7:7::99" }), 429, "rate-limited");
    await expectProblem(await h.call("GET", "/v1/clusters", { token: bad, from: "2001:db8:7:8::1" }), 401, "unauthorized");
  });

  it("counts the unix socket (no remote address) as one client", async () => {
    const h = new Harness({ authFailures: { max: 2, windowMs: 60_000 } });
    await expectProblem(await h.as(bad, "GET", "/v1/clusters"), 401, "unauthorized");
    await expectProblem(await h.as(bad, "GET", "/v1/clusters"), 401, "unauthorized");
    const problem = await expectProblem(await h.as(bad, "GET", "/v1/clusters"), 429, "rate-limited");
    assert.match(problem.detail, /unix socket/);
    await expectStatus(await h.admin("GET", "/v1/clusters"), 200);
  });

  it("does not count requests that send no credentials (they guess nothing)", async () => {
    const h = new Harness({ authFailures: { max: 2, windowMs: 60_000 } });
    for (let i = 0; i < 5; i++) await expectProblem(await h.raw("/v1/clusters"), 401, "unauthorized");
    await expectStatus(await h.admin("GET", "/v1/clusters"), 200);
  });
});

describe("API rate limit per cluster token", () => {
  it("answers a cluster token over its bucket with 429 rate-limited and Retry-After, other tokens and admins unaffected", async () => {
    const { h, alpha, beta } = await tenants(new Harness({ rateLimit: { requestsPerSecond: 1, burst: 3 } }));
    for (let i = 0; i < 3; i++) await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200);
    const limited = await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings");
    assert.equal(limited.headers.get("retry-after"), "1");
    const problem = await expectProblem(limited, 429, "rate-limited");
    assert.match(problem.detail, new RegExp(`token ${alpha.id} of cluster alpha`));
    assert.equal(problem.retryAfterSeconds, 1);
    await expectStatus(await h.as(beta.token, "GET", "/v1/clusters/beta/mappings"), 200);
    for (let i = 0; i < 20; i++) await expectStatus(await h.admin("GET", "/v1/clusters/alpha/mappings"), 200);
    h.now += 1_000;
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200);
  });

  it("gives Retry-After in whole seconds, at least 1", async () => {
    const { h, alpha } = await tenants(new Harness({ rateLimit: { requestsPerSecond: 0.25, burst: 1 } }));
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha"), 200);
    assert.equal((await h.as(alpha.token, "GET", "/v1/clusters/alpha")).headers.get("retry-after"), "4");
    h.now += 3_500;
    assert.equal((await h.as(alpha.token, "GET", "/v1/clusters/alpha")).headers.get("retry-after"), "1");
  });
});

describe("API authentication comes before the body limit and the leader forwarding", () => {
  it("answers an unauthenticated over-limit body with 401, not 413: the body is never read", async () => {
    const { h } = await tenants();
    const response = await h.unchanged(() => h.call("PUT", "/v1/clusters/alpha/mappings",
      { token: "egw_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", body: { mappings: [], padding: "y".repeat(BODY_LIMIT * 2) } }));
    await expectProblem(response, 401, "unauthorized");
  });

  it("never forwards an unauthenticated write to the leader, and forwards an authenticated one", async () => {
    const { h } = await tenants();
    const forwarded: string[] = [];
    const leader = {
      name: "gw-leader",
      forward: async (method: string, path: string) => {
        forwarded.push(`${method} ${path}`);
        return new Response(JSON.stringify({ mappings: [], revision: 1 }), { status: 200, headers: { "content-type": "application/json" } });
      },
    } as unknown as PeerClient;
    installHa(h, { isLeader: () => false, leader: () => leader, probeLeader: async () => ({ leader }), revocationTimeoutMs: 1_000 });
    await expectProblem(await h.call("PUT", "/v1/clusters/alpha/mappings", { token: "egw_DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD", body: { mappings: [] } }), 401, "unauthorized");
    assert.deepEqual(forwarded, []);
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings: [] }), 200);
    assert.deepEqual(forwarded, ["PUT /v1/clusters/alpha/mappings"]);
  });
});
