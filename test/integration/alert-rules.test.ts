import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

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
    assert.match(stdout, /SUCCESS: 10 rules found/);
  });

  it("fires each alert when it should and not before (promtool test rules)", async () => {
    const { stdout } = await run("promtool", ["test", "rules", join(EXAMPLES, "alerts.test.yml")], { cwd: EXAMPLES });
    assert.match(stdout, /SUCCESS/);
  });
});
