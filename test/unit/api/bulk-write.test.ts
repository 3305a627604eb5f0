import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import { ClusterWriteLocks } from "../../../api/limits/bulk-write-lock.js";
import { erp, expectProblem, expectStatus, type Harness, tenants } from "./harness.js";

/** A JSON body (a string is sent as it is) that arrives in two parts; the second only when the test says so. */
function slowBody(value: unknown): { body: ReadableStream<Uint8Array>; release: () => void } {
  const bytes = new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(bytes.slice(0, 5));
      await gate;
      controller.enqueue(bytes.slice(5));
      controller.close();
    },
  });
  return { body, release };
}

/** Starts a PUT whose body is held back, and waits until the request is inside the app. */
async function slowPut(h: Harness, token: string, path: string, value: unknown): Promise<{ response: Promise<Response>; release: () => void }> {
  const { body, release } = slowBody(value);
  const response = h.app.request(path, {
    method: "PUT", body, duplex: "half",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  } as RequestInit);
  for (let i = 0; i < 5; i++) await tick();
  return { response: Promise.resolve(response), release };
}

describe("one bulk write in flight per cluster", () => {
  it("answers a second PUT of the same cluster's mappings or routes with 429 and Retry-After: 1 while the first is still reading its body", async () => {
    const { h, alpha } = await tenants();
    const first = await slowPut(h, alpha.token, "/v1/clusters/alpha/mappings", { mappings: [erp()] });
    for (const path of ["/v1/clusters/alpha/mappings", "/v1/clusters/alpha/routes"]) {
      const second = await h.unchanged(() => h.as(alpha.token, "PUT", path, path.endsWith("routes") ? { routes: [] } : { mappings: [] }));
      assert.equal(second.headers.get("retry-after"), "1");
      const problem = await expectProblem(second, 429, "rate-limited");
      assert.match(problem.detail, /cluster alpha/);
    }
    first.release();
    const stored = await expectStatus(await first.response, 200);
    assert.deepEqual(stored.mappings.map((m: { name: string }) => m.name), ["erp"]);
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [] }), 200);
  });

  it("keeps clusters independent, and leaves single-item writes and reads alone", async () => {
    const { h, alpha, beta } = await tenants();
    const first = await slowPut(h, alpha.token, "/v1/clusters/alpha/mappings", { mappings: [erp()] });
    await expectStatus(await h.as(beta.token, "PUT", "/v1/clusters/beta/mappings",
      { mappings: [{ name: "web", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.20" }] }), 200);
    await expectStatus(await h.as(alpha.token, "POST", "/v1/clusters/alpha/routes", { prefix: "10.244.1.0/24", via: "172.31.0.11" }), 201);
    await expectStatus(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 200);
    first.release();
    await expectStatus(await first.response, 200);
  });

  it("takes no lock for a token that may not act on the cluster: another tenant cannot stall it", async () => {
    const { h, alpha, beta } = await tenants();
    const intruder = await slowPut(h, beta.token, "/v1/clusters/alpha/mappings", { mappings: [] });
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp()] }), 200);
    intruder.release();
    await expectProblem(await intruder.response, 403, "forbidden");
  });

  it("releases the lock when the write has committed, before ?wait=true waits for the data plane", async () => {
    const { h, alpha } = await tenants();
    let applied = () => {};
    h.dataplane.waitForRevision = (revision) => new Promise<void>((resolve) => {
      applied = () => {
        h.dataplane.applied = revision;
        resolve();
      };
    });
    const waiting = h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings?wait=true", { mappings: [erp()] });
    for (let i = 0; i < 10; i++) await tick();
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/routes", { routes: [] }), 200);
    applied();
    await expectStatus(await waiting, 200);
  });

  it("releases the lock when the first request fails", async () => {
    const { h, alpha } = await tenants();
    const bad = await slowPut(h, alpha.token, "/v1/clusters/alpha/mappings", { mappings: [erp({ sourceCidr: "10.250.0.0/24" })] });
    bad.release();
    await expectProblem(await bad.response, 403, "not-owned");
    const malformed = await slowPut(h, alpha.token, "/v1/clusters/alpha/mappings", "{not json");
    malformed.release();
    assert.equal((await malformed.response).status, 400);
    await expectStatus(await h.as(alpha.token, "PUT", "/v1/clusters/alpha/mappings", { mappings: [] }), 200);
  });
});

describe("ClusterWriteLocks", () => {
  it("holds one lock per cluster; releasing twice is harmless", () => {
    const locks = new ClusterWriteLocks();
    const release = locks.tryAcquire("alpha");
    assert.ok(release);
    assert.equal(locks.tryAcquire("alpha"), undefined);
    const other = locks.tryAcquire("beta");
    assert.ok(other);
    release();
    release();
    const again = locks.tryAcquire("alpha");
    assert.ok(again);
    assert.equal(locks.tryAcquire("alpha"), undefined, "the second release did not free the new holder's lock");
  });
});
