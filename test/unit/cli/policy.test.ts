import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { main } from "../../../appliance/cli/main.js";
import { captureIo, fakeApi, type FakeApi } from "./fake-api.js";

const POLICY = { mode: "enforce", defaultAction: "deny", rules: [{ description: "psp", destinations: [{ cidr: "198.51.100.0/24" }], protocol: "tcp", ports: [{ port: 443 }] }] };
const OVERVIEW = {
  cluster: "prod", defaultPolicy: null,
  mappings: [{ mapping: "erp", scope: "mapping", mode: "enforce", defaultAction: "deny", rules: [{ index: 0, description: "psp", connections: 7 }], unmatched: 3 }],
  floors: { global: [{ index: 0, description: "no rfc1918", connections: 2 }], cluster: [] },
  names: [{ name: "api.example.com", state: "failing", addresses: [{ address: "198.51.100.7", expiresAt: "2026-12-03T00:00:00.000Z" }], lastAnswerAt: null, lastError: "ETIMEOUT", consecutiveFailures: 2, nextRefreshAt: null }],
};

describe("egw policy and egw floor", () => {
  let api: FakeApi;
  before(async () => {
    api = await fakeApi({
      "PUT /v1/clusters/prod/mappings/erp/policy?wait=true": (request) => ({ status: 200, body: { revision: 12, scope: "mapping", policy: request.body } }),
      "GET /v1/clusters/prod/mappings/erp/policy": () => ({ status: 200, body: { scope: "mapping", policy: POLICY } }),
      "GET /v1/clusters/prod/policies": () => ({ status: 200, body: OVERVIEW }),
      "DELETE /v1/clusters/prod/policy": () => ({ status: 204, body: undefined }),
      "GET /v1/clusters/prod/policy-events": () => ({ status: 200, body: { events: [
        { at: "2026-12-03T01:02:03.000Z", verdict: "denied", cluster: "prod", mapping: "erp", source: "10.244.1.5", destination: "203.0.113.9", protocol: "tcp", destinationPort: 22 },
      ] } }),
      "PUT /v1/policy-floor": (request) => ({ status: 200, body: { revision: 13, scope: "global", rules: (request.body as { rules: unknown[] }).rules } }),
    });
  });
  after(() => api.close());

  const run = async (...args: string[]) => {
    const io = captureIo();
    const code = await main([...args, ...api.flags], io);
    return { code, out: io.out(), err: io.err() };
  };

  it("apply sends the file's policy to the mapping, waiting when asked", async () => {
    const file = join(api.dir, "policy.yaml");
    writeFileSync(file, "rules:\n  - destinations: [{ cidr: 198.51.100.0/24 }]\n    protocol: tcp\n    ports: [{ port: 443 }]\n");
    const { code, out } = await run("policy", "apply", "prod", "erp", "-f", file, "--wait");
    assert.equal(code, 0);
    assert.match(out, /applied: the policy of mapping erp \(1 rules\) at revision 12/);
    assert.deepEqual(api.requests.at(-1)?.body, { rules: [{ destinations: [{ cidr: "198.51.100.0/24" }], protocol: "tcp", ports: [{ port: 443 }] }] });
  });

  it("show prints a mapping's policy as YAML, and without a mapping the overview with counts and failing names", async () => {
    const own = await run("policy", "show", "prod", "erp");
    assert.equal(own.code, 0);
    assert.match(own.out, /cidr: 198\.51\.100\.0\/24/);
    const overview = await run("policy", "show", "prod");
    assert.match(overview.out, /erp\s+own\s+enforce\s+deny\s+1\s+7\s+3/);
    assert.match(overview.out, /api\.example\.com\s+failing\s+198\.51\.100\.7\s+ETIMEOUT/);
    assert.match(overview.out, /floor rules: 1 global \(refused 2\), 0 of the cluster \(refused 0\)/);
  });

  it("events lists the latest refusals; delete without a mapping deletes the cluster's default", async () => {
    assert.match((await run("policy", "events", "prod")).out, /denied\s+erp\s+10\.244\.1\.5\s+203\.0\.113\.9\s+tcp\s+22/);
    const deleted = await run("policy", "delete", "prod");
    assert.equal(deleted.code, 0);
    assert.match(deleted.out, /deleted the default policy of cluster prod/);
  });

  it("floor apply without a cluster sets the global floor", async () => {
    const file = join(api.dir, "floor.json");
    writeFileSync(file, JSON.stringify({ rules: [{ destinations: [{ cidr: "10.0.0.0/8" }] }] }));
    const { code, out } = await run("floor", "apply", "-f", file);
    assert.equal(code, 0);
    assert.match(out, /applied: the global floor \(1 rules\) at revision 13/);
  });

  it("refuses a file that holds no object, and apply without -f", async () => {
    const file = join(api.dir, "list.yaml");
    writeFileSync(file, "- a\n- b\n");
    assert.notEqual((await run("policy", "apply", "prod", "-f", file)).code, 0);
    assert.notEqual((await run("policy", "apply", "prod")).code, 0);
  });
});
