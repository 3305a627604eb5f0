import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";

const CHECK = join(PACKAGE_ROOT, "scripts", "check-keepalived-conf.sh");
const GOLDEN = readFileSync(join(PACKAGE_ROOT, "test/unit/ha/fixtures/keepalived.golden.conf"), "utf8");

/**
 * keepalived runs as root and reads what the unprivileged egw writes; the root-owned check its unit drop-in runs
 * before every start and reload must accept egw's own template and refuse anything that could run a command.
 */
describe("scripts/check-keepalived-conf.sh (the keepalived drop-in's gate)", () => {
  const dir = mkdtempSync(join(tmpdir(), "egw-check-keepalived-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const check = (text: string) => {
    const file = join(dir, "keepalived.conf");
    writeFileSync(file, text);
    const result = spawnSync("bash", [CHECK, file], { encoding: "utf8" });
    return { status: result.status, stderr: result.stderr };
  };

  it("accepts the configuration egw renders", () => {
    assert.deepEqual(check(GOLDEN), { status: 0, stderr: "" });
  });

  const inInstance = (line: string) => GOLDEN.replace("  nopreempt\n", `  nopreempt\n${line}\n`);
  for (const [what, text] of [
    ["a notify script in the instance", inInstance('  notify_master "/bin/sh -c id"')],
    ["a notify script for every state", inInstance("  notify /run/egw/x.sh")],
    ["a vrrp_script", `${GOLDEN}\nvrrp_script chk {\n  script "/run/egw/x.sh"\n}\n`],
    ["a track_script", inInstance("  track_script {\n    chk\n  }")],
    ["an include", `include /run/egw/more.conf\n${GOLDEN}`],
    ["scripts as root", GOLDEN.replace("script_user nobody", "script_user root")],
    ["no enable_script_security", GOLDEN.replace("  enable_script_security\n", "")],
    ["a script on the notify FIFO", GOLDEN.replace(/notify_fifo (\S+)/, "notify_fifo $1 /run/egw/x.sh")],
    ["a virtual server (LVS health checkers run commands)", `${GOLDEN}\nvirtual_server 10.0.0.1 80 {\n}\n`],
    ["something else among the addresses", GOLDEN.replace("dev outside\n", "dev outside\n    misc_path /run/egw/x.sh\n")],
  ] as const) {
    it(`refuses ${what}`, () => {
      const result = check(text);
      assert.notEqual(result.status, 0, `accepted:\n${text}`);
      assert.match(result.stderr, /check-keepalived-conf: /);
    });
  }
});
