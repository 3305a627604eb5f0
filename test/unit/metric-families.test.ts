import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMetrics, type MetricSources } from "../../appliance/metrics.js";
import { egwVersion } from "../../appliance/version.js";

const base: MetricSources = {
  storeRevision: () => 10, appliedRevision: () => 10, counts: () => ({ mappings: 0, routes: 0, egressIps: 0, clusters: 0 }), egressCounters: async () => [],
};

const line = (text: string, pattern: RegExp) => text.split("\n").filter((l) => pattern.test(l));

describe("metric families", () => {
  it("egw_ha_role: one series per role, 1 for the current one, following a change", async () => {
    let role = "master";
    const { registry } = createMetrics({ ...base, ha: { gateway: "gw-a", role: () => role, confirmations: () => [] } });
    let text = await registry.metrics();
    assert.deepEqual(line(text, /^egw_ha_role\{/), [
      'egw_ha_role{gateway="gw-a",role="master"} 1', 'egw_ha_role{gateway="gw-a",role="backup"} 0',
      'egw_ha_role{gateway="gw-a",role="fault"} 0', 'egw_ha_role{gateway="gw-a",role="unknown"} 0',
    ]);
    role = "fault";
    text = await registry.metrics();
    assert.match(text, /^egw_ha_role\{gateway="gw-a",role="fault"\} 1$/m);
    assert.match(text, /^egw_ha_role\{gateway="gw-a",role="master"\} 0$/m);
  });

  it("replication: lag in revisions and the last confirmation's Unix time per peer, only while leading", async () => {
    let revision = 10;
    let confirmations: { peer: string; revision: number | null; atMs: number }[] = [{ peer: "gw-b", revision: 7, atMs: 1_700_000_000_500 }];
    const { registry } = createMetrics({ ...base, storeRevision: () => revision, ha: { gateway: "gw-a", role: () => "master", confirmations: () => confirmations } });
    let text = await registry.metrics();
    assert.match(text, /^egw_replication_peer_lag_revisions\{peer="gw-b"\} 3$/m);
    assert.match(text, /^egw_replication_peer_last_confirmed_timestamp_seconds\{peer="gw-b"\} 1700000000\.5$/m);
    revision = 12;
    confirmations = [{ peer: "gw-b", revision: 12, atMs: 1_700_000_060_000 }];
    text = await registry.metrics();
    assert.match(text, /^egw_replication_peer_lag_revisions\{peer="gw-b"\} 0$/m);
    assert.match(text, /^egw_replication_peer_last_confirmed_timestamp_seconds\{peer="gw-b"\} 1700000060$/m);
    confirmations = [{ peer: "gw-b", revision: null, atMs: 1_700_000_100_000 }];
    text = await registry.metrics();
    assert.deepEqual(line(text, /^egw_replication_peer_lag_revisions\{/), [], "no lag before a first confirmation");
    assert.match(text, /^egw_replication_peer_last_confirmed_timestamp_seconds\{peer="gw-b"\} 1700000100$/m, "since leading began");
    confirmations = [];
    text = await registry.metrics();
    assert.deepEqual(line(text, /^egw_replication_peer_/), [], "a follower reports no peers");
  });

  it("no HA series on a single gateway", async () => {
    const text = await createMetrics(base).registry.metrics();
    assert.doesNotMatch(text, /^egw_ha_role|^egw_replication_/m);
  });

  it("egw_apply_last_success_timestamp_seconds: 0 until a pass succeeds, then its time; a failure leaves it", async () => {
    const metrics = createMetrics(base);
    assert.match(await metrics.registry.metrics(), /^egw_apply_last_success_timestamp_seconds 0$/m);
    metrics.recordApply({ revision: 3, ok: true, at: "2026-12-03T07:00:00.250Z", durationMs: 5, kind: "full" });
    assert.match(await metrics.registry.metrics(), /^egw_apply_last_success_timestamp_seconds 1796281200\.25$/m);
    metrics.recordApply({ revision: 4, ok: false, at: "2026-12-03T07:05:00.000Z", durationMs: 5, kind: "incremental", error: "nft said no" });
    const text = await metrics.registry.metrics();
    assert.match(text, /^egw_apply_last_success_timestamp_seconds 1796281200\.25$/m);
    assert.match(text, /^egw_apply_total\{result="error",kind="incremental"\} 1$/m);
  });

  it("egw_http_requests_total and egw_http_request_duration_seconds by route pattern", async () => {
    const metrics = createMetrics(base);
    metrics.recordHttpRequest({ route: "/v1/clusters/:name/mappings", method: "PUT", status: 200, durationSeconds: 0.02 });
    metrics.recordHttpRequest({ route: "/v1/clusters/:name/mappings", method: "PUT", status: 200, durationSeconds: 0.3 });
    metrics.recordHttpRequest({ route: "unmatched", method: "GET", status: 404, durationSeconds: 0.001 });
    const text = await metrics.registry.metrics();
    assert.match(text, /^egw_http_requests_total\{route="\/v1\/clusters\/:name\/mappings",method="PUT",status="200"\} 2$/m);
    assert.match(text, /^egw_http_requests_total\{route="unmatched",method="GET",status="404"\} 1$/m);
    assert.match(text, /^egw_http_request_duration_seconds_bucket\{le="0\.025",route="\/v1\/clusters\/:name\/mappings",method="PUT"\} 1$/m);
    assert.match(text, /^egw_http_request_duration_seconds_count\{route="\/v1\/clusters\/:name\/mappings",method="PUT"\} 2$/m);
  });

  it("egw_build_info names the release and the Node.js version", async () => {
    const text = await createMetrics(base).registry.metrics();
    assert.ok(text.includes(`egw_build_info{version="${egwVersion()}",node_version="${process.version}"} 1`), text);
  });

  it("the default process metrics carry their standard names (stock dashboards), never an egw_ prefix", async () => {
    const names = createMetrics(base).registry.getMetricsAsArray().map((m) => m.name);
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds", "nodejs_eventloop_lag_seconds", "nodejs_heap_size_used_bytes"]) {
      assert.ok(names.includes(name), name);
    }
    assert.deepEqual(names.filter((n) => /^egw_(process|nodejs)_/.test(n)), []);
  });
});
