import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createMetrics } from "../../../appliance/metrics.js";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";

/** The operator's guide names every metric family the daemon registers (every source on), so a new one is documented. */
describe("docs/operator-guide.md's metrics table", () => {
  it("names every egw_ metric the daemon registers", () => {
    const { registry } = createMetrics({
      storeRevision: () => 0, appliedRevision: () => 0, counts: () => ({ mappings: 0, routes: 0, egressIps: 0, clusters: 0 }), egressCounters: async () => [],
      translationLog: { status: () => undefined, tally: () => undefined, conntrackStats: () => Promise.reject(new Error("not read here")) },
      policy: { counters: async () => new Map(), governed: () => [], floors: () => [], names: () => [] },
      policyLog: { status: () => ({ state: "running" }) as never },
      ha: { gateway: "gw-a", role: () => "master", confirmations: () => [] },
    });
    const guide = readFileSync(join(PACKAGE_ROOT, "docs", "operator-guide.md"), "utf8");
    const names = registry.getMetricsAsArray().map((m) => m.name).filter((name) => name.startsWith("egw_"));
    assert.ok(names.length > 30);
    assert.deepEqual(names.filter((name) => !guide.includes(`\`${name}`)), []);
  });
});
