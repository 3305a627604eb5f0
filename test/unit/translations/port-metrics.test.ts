import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import type { ConntrackStats } from "../../../appliance/kernel/conntrack-stats.js";
import { destinationLabel, registerPortMetrics } from "../../../appliance/translations/port-metrics.js";
import { PortTally } from "../../../appliance/translations/port-tally.js";
import type { TranslationRecord } from "../../../appliance/translation-model.js";

function record(overrides: Partial<TranslationRecord>): TranslationRecord {
  return {
    id: 1, gateway: "gw-a", cluster: "alpha", mapping: "erp", protocol: "tcp", family: 4,
    podAddress: "10.244.1.5", podPort: 40_000, destinationAddress: "198.51.100.7", destinationPort: 443,
    egressAddress: "203.0.113.10", egressPort: 20_000, startMs: 1_000, endMs: null, endReason: null, counters: null,
    ...overrides,
  };
}

const stats = (insertFailed: number): ConntrackStats => ({ insertFailed, drop: insertFailed + 1, earlyDrop: 2, entries: 40, max: 262_144, counters: {} });

/** The value of one series in the text exposition, or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("port metrics", () => {
  it("exports each egress IP's busiest utilization, its top destinations only, and its destination count", async () => {
    const tally = new PortTally();
    for (let port = 1; port <= 5; port += 1) {
      for (let i = 0; i < port; i += 1) tally.opened(record({ destinationPort: port, podPort: i, egressPort: 1024 + i }));
    }
    tally.opened(record({ egressAddress: "2001:db8::10", destinationAddress: "2001:db8:1::7", destinationPort: 53, protocol: "udp" }));
    const registry = new Registry();
    registerPortMetrics(registry, { tally: () => tally, conntrackStats: async () => stats(0) }, { top: 2, kernelReadingMaxAgeMs: 0, tallyReadingMaxAgeMs: 0 });
    const text = await registry.metrics();
    assert.equal(value(text, 'egw_egress_ip_port_utilization_ratio{egress_ip="203.0.113.10"}'), 5 / 64_512);
    assert.equal(value(text, 'egw_egress_ip_destinations{egress_ip="203.0.113.10"}'), 5);
    assert.equal(value(text, 'egw_egress_ip_ports_in_use{egress_ip="203.0.113.10",destination="198.51.100.7:5",protocol="tcp"}'), 5);
    assert.equal(value(text, 'egw_egress_ip_ports_in_use{egress_ip="203.0.113.10",destination="198.51.100.7:4",protocol="tcp"}'), 4);
    assert.equal(value(text, 'egw_egress_ip_ports_in_use{egress_ip="203.0.113.10",destination="198.51.100.7:3",protocol="tcp"}'), undefined,
      "only the top 2 destinations get a series");
    assert.equal(value(text, 'egw_egress_ip_ports_in_use{egress_ip="2001:db8::10",destination="[2001:db8:1::7]:53",protocol="udp"}'), 1);
    assert.match(text, /# HELP egw_egress_ip_ports_in_use .*only each egress IP's 2 busiest destinations are exported/);

    for (let port = 1; port <= 5; port += 1) {
      for (let i = 0; i < port; i += 1) tally.closed(record({ destinationPort: port, podPort: i, egressPort: 1024 + i, endMs: 2_000, endReason: "kernel" }));
    }
    const after = await registry.metrics();
    assert.equal(value(after, 'egw_egress_ip_port_utilization_ratio{egress_ip="203.0.113.10"}'), undefined, "an egress IP that went quiet leaves no stale series");
    assert.doesNotMatch(after, /egress_ip="203\.0\.113\.10"/);
  });

  it("exports the kernel's conntrack counters as counters, refilled on each reading without adding readings up", async () => {
    let insertFailed = 3;
    const registry = new Registry();
    registerPortMetrics(registry, { tally: () => undefined, conntrackStats: async () => stats(insertFailed) }, { kernelReadingMaxAgeMs: 0 });
    const [first] = await Promise.all([registry.metrics(), registry.metrics()]);
    assert.equal(value(first, "egw_conntrack_insert_failed_total"), 3);
    assert.equal(value(first, "egw_conntrack_drop_total"), 4);
    assert.equal(value(first, "egw_conntrack_early_drop_total"), 2);
    assert.equal(value(first, "egw_conntrack_entries"), 40);
    assert.equal(value(first, "egw_conntrack_max"), 262_144);
    insertFailed = 7;
    const second = await registry.metrics();
    assert.equal(value(second, "egw_conntrack_insert_failed_total"), 7, "the kernel's count, not the sum of two scrapes");
    assert.doesNotMatch(second, /^egw_egress_ip_port_utilization_ratio\{/m, "no tally (the translation log is off): no port series");
  });

  it("keeps the last kernel reading when a reading fails, and reports the error", async () => {
    const errors: unknown[] = [];
    let fail = false;
    const registry = new Registry();
    registerPortMetrics(registry, {
      tally: () => new PortTally(),
      conntrackStats: () => (fail ? Promise.reject(new Error("conntrack: not installed")) : Promise.resolve(stats(5))),
    }, { kernelReadingMaxAgeMs: 0, onReadError: (error) => errors.push(error) });
    assert.equal(value(await registry.metrics(), "egw_conntrack_insert_failed_total"), 5);
    fail = true;
    const text = await registry.metrics();
    assert.equal(value(text, "egw_conntrack_insert_failed_total"), 5, "not 0, which would read as a counter reset");
    assert.equal(value(text, "egw_conntrack_entries"), 40);
    assert.ok(errors.length > 0, "the failure was reported");
  });

  it("labels destinations as address:port, IPv6 in brackets, ICMP by address alone", () => {
    assert.equal(destinationLabel({ destinationAddress: "198.51.100.7", destinationPort: 443, protocol: "tcp" }), "198.51.100.7:443");
    assert.equal(destinationLabel({ destinationAddress: "2001:db8::7", destinationPort: 53, protocol: "udp" }), "[2001:db8::7]:53");
    assert.equal(destinationLabel({ destinationAddress: "198.51.100.7", destinationPort: 0, protocol: "icmp" }), "198.51.100.7");
  });
});
