import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { PACKAGE_ROOT } from "../../appliance/paths.js";
import { concreteExpr, dashboardExpressions } from "../helpers/grafana-dashboard.js";

const run = promisify(execFile);
const EXAMPLES = join(PACKAGE_ROOT, "docs", "examples");

/**
 * The alert rules the operator's guide ships, checked by Prometheus' own promtool (installed by
 * scripts/install-deps.sh and in the Debian 13 test machine): the file loads, and each alert fires (and stays
 * silent) on the series its unit tests feed it — e.g. EgressPortsNearExhaustion at 80 % of a destination's ports.
 */
describe("docs/examples/alerts.yml under promtool", () => {
  it("is a rule file Prometheus loads", async () => {
    const { stdout } = await run("promtool", ["check", "rules", join(EXAMPLES, "alerts.yml")]);
    assert.match(stdout, /SUCCESS: 11 rules found/);
  });

  it("fires each alert when it should and not before (promtool test rules)", async () => {
    const { stdout } = await run("promtool", ["test", "rules", join(EXAMPLES, "alerts.test.yml")], { cwd: EXAMPLES });
    assert.match(stdout, /SUCCESS/);
  });
});

/**
 * Every query of docs/examples/grafana-dashboard.json parses as PromQL: promtool checks a throw-away rule file with
 * one recording rule per query (Grafana's variables replaced by values; test/unit/docs/grafana-dashboard.test.ts
 * checks the metric names).
 */
describe("docs/examples/grafana-dashboard.json under promtool", () => {
  it("every panel's query is a valid PromQL expression", async () => {
    const expressions = dashboardExpressions();
    assert.ok(expressions.length > 0);
    const dir = mkdtempSync(join(tmpdir(), "egw-dashboard-"));
    try {
      const file = join(dir, "dashboard-queries.yml");
      writeFileSync(file, stringify({
        groups: [{ name: "dashboard", rules: expressions.map(({ expr }, i) => ({ record: `dashboard:query_${i}`, expr: concreteExpr(expr) })) }],
      }));
      const { stdout } = await run("promtool", ["check", "rules", file]).catch((error: { stdout?: string; stderr?: string }) => {
        throw new Error(`promtool refused a dashboard query:\n${error.stdout ?? ""}${error.stderr ?? ""}`);
      });
      assert.match(stdout, new RegExp(`SUCCESS: ${expressions.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
