import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMetrics } from "../../../appliance/metrics.js";
import { allPanels, dashboardExpressions, readDashboard } from "../../helpers/grafana-dashboard.js";

/**
 * docs/examples/grafana-dashboard.json: a dashboard Grafana imports (JSON, a schema version, unique panel ids, the
 * Prometheus data source as an import input), whose every query names only metrics the daemon registers — so renaming
 * a metric breaks this test, not the operator's dashboard. test/integration/alert-rules.test.ts has promtool parse
 * every expression.
 */
const DATASOURCE = { type: "prometheus", uid: "${DS_PROMETHEUS}" };

describe("docs/examples/grafana-dashboard.json", () => {
  const dashboard = readDashboard();
  const panels = allPanels(dashboard.panels);

  it("is an importable dashboard: schemaVersion, title, uid, and the Prometheus data source as an input", () => {
    assert.equal(typeof dashboard["schemaVersion"], "number");
    assert.equal(typeof dashboard["title"], "string");
    assert.equal(typeof dashboard["uid"], "string");
    assert.deepEqual((dashboard["__inputs"] as { name: string; type: string; pluginId: string }[]).map((i) => [i.name, i.type, i.pluginId]), [["DS_PROMETHEUS", "datasource", "prometheus"]]);
  });

  it("gives every panel a unique numeric id, a type, a title and the input data source", () => {
    const ids = panels.map((p) => p.id);
    assert.ok(ids.every((id) => typeof id === "number"));
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
    for (const panel of panels) {
      assert.equal(typeof panel.type, "string");
      assert.equal(typeof panel.title, "string");
      if (panel.type === "row") continue;
      assert.deepEqual(panel.datasource, DATASOURCE, String(panel.title));
      assert.ok((panel.targets ?? []).length > 0, `${String(panel.title)} has a query`);
      for (const target of panel.targets ?? []) {
        assert.deepEqual(target.datasource, DATASOURCE, String(panel.title));
        assert.equal(typeof target.expr, "string");
      }
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${String(panel.title)}: refIds are unique`);
    }
  });

  it("shows what the operator's guide promises: roles, applies, drift, replication, HTTP, ports, policy, process", () => {
    const text = dashboardExpressions().map((e) => e.expr).join("\n");
    for (const metric of ["egw_ha_role", "egw_apply_total", "egw_apply_last_success_timestamp_seconds", "egw_drift_repairs_total",
      "egw_replication_peer_lag_revisions", "egw_replication_peer_last_confirmed_timestamp_seconds", "egw_http_requests_total",
      "egw_http_request_duration_seconds_bucket", "egw_egress_ip_port_utilization_ratio", "egw_policy_connections_total",
      "process_cpu_seconds_total", "process_resident_memory_bytes", "egw_build_info"]) {
      assert.ok(text.includes(metric), metric);
    }
  });

  it("queries only metrics the daemon registers (every family on: HA, translation log, policy and its log)", () => {
    const { registry } = createMetrics({
      storeRevision: () => 0, appliedRevision: () => 0, counts: () => ({ mappings: 0, routes: 0, egressIps: 0, clusters: 0 }), egressCounters: async () => [],
      translationLog: { status: () => undefined, tally: () => undefined, conntrackStats: () => Promise.reject(new Error("not read here")) },
      policy: { counters: async () => new Map(), governed: () => [], floors: () => [], names: () => [] },
      policyLog: { status: () => ({ state: "running", events: {}, unexplained: {} }) as never },
      ha: { gateway: "gw-a", role: () => "master", confirmations: () => [] },
    });
    const registered = new Map(registry.getMetricsAsArray().map((m) => [m.name, String(m.type)]));
    const used = dashboardExpressions().flatMap(({ panel, expr }) => [...expr.matchAll(/\b(?:egw|process|nodejs)_[a-z0-9_]+/g)].map((m) => ({ panel, name: m[0] })));
    assert.ok(used.length >= 25);
    for (const { panel, name } of used) {
      // A histogram is registered under its base name and queried through its _bucket, _sum and _count series.
      const base = name.replace(/_(bucket|sum|count)$/, "");
      const known = registered.has(name) || (base !== name && registered.get(base) === "histogram");
      assert.ok(known, `${panel}: ${name} is not a metric the daemon registers`);
    }
  });
});
