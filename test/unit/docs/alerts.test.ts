import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";
import { createMetrics } from "../../../appliance/metrics.js";

/**
 * docs/examples/alerts.yml without running anything: its shape as Prometheus reads a
 * rule file, the alerts the operator's guide promises, and that every egw_ metric the rules use is one the
 * daemon exports. test/integration/alert-rules.test.ts has promtool check the expressions themselves.
 */
interface Rule { alert?: string; record?: string; expr?: unknown; for?: unknown; labels?: Record<string, unknown>; annotations?: Record<string, unknown> }
const read = (name: string) => parse(readFileSync(join(PACKAGE_ROOT, "docs", "examples", name), "utf8")) as Record<string, unknown>;
const rules = (): Rule[] => (read("alerts.yml")["groups"] as { rules: Rule[] }[]).flatMap((g) => g.rules);

describe("docs/examples/alerts.yml", () => {
  it("is a rule file of named groups whose alerts all have an expression, a severity, a summary and a description", () => {
    const file = read("alerts.yml");
    assert.deepEqual(Object.keys(file), ["groups"]);
    const groups = file["groups"] as { name?: unknown; rules?: unknown }[];
    assert.ok(groups.length > 0);
    for (const group of groups) {
      assert.equal(typeof group.name, "string");
      assert.ok(Array.isArray(group.rules) && group.rules.length > 0);
    }
    for (const rule of rules()) {
      assert.deepEqual(Object.keys(rule).filter((k) => !["alert", "expr", "for", "labels", "annotations"].includes(k)), [], `${rule.alert}: unknown keys`);
      assert.equal(typeof rule.expr, "string", `${rule.alert}: expr`);
      assert.ok(rule.for === undefined || /^\d+[smh]$/.test(String(rule.for)), `${rule.alert}: for is a duration`);
      assert.ok(["info", "warning", "critical"].includes(String(rule.labels?.["severity"])), `${rule.alert}: severity`);
      assert.equal(typeof rule.annotations?.["summary"], "string", `${rule.alert}: summary`);
      assert.equal(typeof rule.annotations?.["description"], "string", `${rule.alert}: description`);
    }
  });

  it("holds the alerts the guide names, with their thresholds and durations", () => {
    const byName = new Map(rules().map((r) => [r.alert, r]));
    const expect = (name: string, expr: string, forDuration: string | undefined, severity: string) => {
      const rule = byName.get(name);
      assert.ok(rule, `${name} is missing`);
      assert.equal(rule.expr, expr, name);
      assert.equal(rule.for, forDuration, name);
      assert.equal(rule.labels?.["severity"], severity, name);
    };
    expect("EgressPortsNearExhaustion", "egw_egress_ip_port_utilization_ratio > 0.8", "2m", "warning");
    expect("EgressPortsExhausted", "egw_egress_ip_port_utilization_ratio > 0.95 or increase(egw_conntrack_insert_failed_total[5m]) > 0", undefined, "critical");
    expect("TranslationLogDown", "egw_translation_log_up == 0", "1m", "critical");
    expect("TranslationLogLosing", "increase(egw_translation_log_lost_events_total[5m]) > 0", undefined, "critical");
    expect("TranslationLogLagging", "egw_translation_log_lag_seconds > 30", "5m", "warning");
    expect("ApplyFailing", 'sum without (kind, result) (increase(egw_apply_total{result="error"}[5m])) > 0 and (time() - egw_apply_last_success_timestamp_seconds) > 300', "1m", "critical");
    expect("DriftRepairedRepeatedly", "increase(egw_drift_repairs_total[1h]) > 3", undefined, "warning");
    expect("ReplicationPeerBehind", "egw_replication_peer_lag_revisions > 10 or (time() - egw_replication_peer_last_confirmed_timestamp_seconds) > 60", "2m", "warning");
    expect("EgressGatewayDown", 'up{job=~"egw.*"} == 0', "1m", "critical");
    expect("NoVrrpMaster", 'max without (instance, gateway) (egw_ha_role{role="master"}) < 1 unless on(job) (min by (job) (up) == 0)', "30s", "critical");
    expect("VrrpFailover", 'egw_ha_role{role="master"} == 1 and ignoring(role) changes(egw_ha_role{role="backup"}[10m]) > 0', undefined, "info");
    assert.equal(byName.size, 11);
  });

  it("uses only metrics the daemon registers (with the translation log on, in a gateway group)", async () => {
    const { registry } = createMetrics({
      storeRevision: () => 0, appliedRevision: () => 0, counts: () => ({ mappings: 0, routes: 0, egressIps: 0, clusters: 0 }), egressCounters: async () => [],
      translationLog: { status: () => undefined, tally: () => undefined, conntrackStats: () => Promise.reject(new Error("not read here")) },
      ha: { gateway: "gw-a", role: () => "master", confirmations: () => [] },
    });
    const exported = new Set(registry.getMetricsAsArray().map((m) => m.name));
    const used = rules().flatMap((r) => [...String(r.expr).matchAll(/\begw_[a-z_]+/g)].map((m) => m[0]));
    assert.ok(used.length >= 10);
    for (const name of used) assert.ok(exported.has(name), `${name} is not a metric the daemon exports`);
  });

  it("has a promtool unit test file that tests every alert of the rule file", () => {
    const tests = read("alerts.test.yml");
    assert.deepEqual(tests["rule_files"], ["alerts.yml"]);
    const tested = new Set((tests["tests"] as { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[])
      .flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    assert.deepEqual([...tested].sort(), rules().map((r) => r.alert).sort());
  });
});
