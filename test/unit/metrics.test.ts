import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMetricsApp } from "../../api/metrics-app.js";
import { CachedReading } from "../../appliance/cached-reading.js";
import { createMetrics } from "../../appliance/metrics.js";

const TOKEN = "metrics-token-0123456789abcdef0123456789";

function countingSources() {
  const calls = { egress: 0, guards: 0 };
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    calls,
    release: () => release(),
    sources: {
      storeRevision: () => 7,
      appliedRevision: () => 7,
      counts: () => ({ mappings: 1, routes: 1, egressIps: 1, clusters: 1 }),
      egressCounters: async () => {
        calls.egress++;
        await gate;
        return [{ address: "203.0.113.10", direction: "out" as const, packets: 3, bytes: 300 }];
      },
      guardDrops: async () => {
        calls.guards++;
        await gate;
        return new Map([["vrrp", { packets: 7 }]]);
      },
    },
  };
}

describe("metrics: one kernel reading per interval", () => {
  it("answers 300 concurrent scrapes with one reading of the kernel counters", async () => {
    const { calls, release, sources } = countingSources();
    const metrics = createMetrics(sources, { kernelReadingMaxAgeMs: 60_000 });
    const scrapes = Array.from({ length: 300 }, () => metrics.registry.metrics());
    release();
    const texts = await Promise.all(scrapes);
    assert.equal(calls.egress, 1, "one nft reading for the whole flood");
    assert.equal(calls.guards, 1, "one reading of the guard counters too");
    for (const text of texts) {
      assert.match(text, /^egw_egress_ip_bytes_total\{egress_ip="203\.0\.113\.10",direction="out"\} 300$/m);
      assert.match(text, /^egw_guard_drops_total\{guard="vrrp"\} 7$/m);
    }
    await metrics.registry.metrics();
    assert.equal(calls.egress, 1, "a scrape within the interval reuses the reading");
  });

  it("reads again once the reading is older than the interval", async () => {
    let now = 0;
    let reads = 0;
    const reading = new CachedReading(async () => ++reads, 1_000, () => now);
    assert.equal(await reading.get(), 1);
    now = 999;
    assert.equal(await reading.get(), 1);
    now = 1_000;
    assert.equal(await reading.get(), 2);
  });

  it("serves the other metrics when the kernel reading fails, and counts the failure", async () => {
    const metrics = createMetrics({
      storeRevision: () => 1, appliedRevision: () => 1, counts: () => ({ mappings: 0, routes: 0, egressIps: 0, clusters: 0 }),
      egressCounters: async () => {
        throw new Error("nft: permission denied");
      },
    });
    assert.match(await metrics.registry.metrics(), /^egw_store_revision 1$/m);
    // Collected in parallel with the failing reading, the error count shows from the next scrape on.
    assert.match(await metrics.registry.metrics(), /^egw_metrics_read_errors_total [1-9]\d*$/m);
  });
});

describe("the metrics listener's app", () => {
  const { sources, release } = countingSources();
  release();
  const registry = createMetrics(sources).registry;

  it("needs the metrics token when one is configured, and says how to send it", async () => {
    const app = createMetricsApp({ registry, token: TOKEN, ready: () => true });
    const denied = await app.request("/metrics");
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get("www-authenticate"), 'Bearer realm="egw-metrics"');
    assert.equal((await app.request("/metrics", { headers: { authorization: "Bearer wrong-token-wrong-token-wrong-token" } })).status, 401);
    const ok = await app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /^egw_store_revision 7$/m);
  });

  it("serves only /metrics, /healthz and /readyz: nothing of the API", async () => {
    const app = createMetricsApp({ registry, ready: () => false });
    assert.equal((await app.request("/metrics")).status, 200);
    assert.equal((await app.request("/healthz")).status, 200);
    assert.equal((await app.request("/readyz")).status, 503);
    for (const path of ["/v1/status", "/v1/clusters", "/internal/v1/replication/state", "/openapi.json"]) {
      assert.equal((await app.request(path)).status, 404, path);
    }
  });
});
