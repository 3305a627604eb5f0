import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { isSupervisor, LAB_DIR, LAB_PREFIX, readState } from "../../lab/lab-state.js";

const EGW = fileURLToPath(new URL("../../bin/egw.js", import.meta.url));
const isRoot = process.getuid?.() === 0;
const labUp = isRoot && isSupervisor(readState()?.supervisorPid);

const namespaces = () => spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").map((l) => l.split(" ")[0] ?? "").filter(Boolean);
const supervisors = () => spawnSync("pgrep", ["-f", "egw.js lab supervise"], { encoding: "utf8" }).stdout.trim();

interface Report {
  ok: boolean;
  pods: { pod: string; expectedEgressIp: string; observedSourceIp: string }[];
  failover: { outageMs: number; tcpStreamSurvived: boolean; observedAfter: { pod: string; observedSourceIp: string }[] } | null;
  checks: { name: string; ok: boolean; detail: string }[];
  lab: { namespaces: string[] };
}

/**
 * The README's main command, as a user runs it: the built CLI, `egw lab demo --json`, in a child process. One JSON
 * report on stdout, progress on stderr, exit status 0 only if every check held, and nothing left behind.
 */
describe("egw lab demo --json", { skip: !isRoot ? "needs root for network namespaces" : labUp ? "a lab is up (egw lab down first)" : false }, () => {
  it("tells the whole story, every check holds, and it leaves nothing behind", { timeout: 120_000 }, async (t) => {
    const before = new Set(namespaces());
    const started = Date.now();
    const result = await execa(process.execPath, [EGW, "lab", "demo", "--json"], { reject: false, timeout: 110_000 });
    t.diagnostic(`demo took ${Date.now() - started} ms`);
    const stderrTail = String(result.stderr).slice(-4000);
    let report: Report;
    try {
      report = JSON.parse(String(result.stdout)) as Report;
    } catch {
      assert.fail(`stdout is not one JSON document:\n${String(result.stdout).slice(0, 2000)}\n--- stderr ---\n${stderrTail}`);
    }
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join("\n");
    assert.equal(report.ok, true, `checks failed:\n${failed}\n--- stderr ---\n${stderrTail}`);
    assert.equal(result.exitCode, 0);

    assert.equal(report.pods.length, 2, "two applications, two pods");
    for (const pod of report.pods) assert.equal(pod.observedSourceIp, pod.expectedEgressIp, `pod ${pod.pod}`);
    assert.notEqual(report.pods[0]?.expectedEgressIp, report.pods[1]?.expectedEgressIp, "each application has its own egress IP");
    assert.ok(report.failover, "the failover ran");
    assert.equal(report.failover.tcpStreamSurvived, true);
    assert.equal(typeof report.failover.outageMs, "number");
    t.diagnostic(`outage ${report.failover.outageMs} ms`);
    for (const after of report.failover.observedAfter) {
      assert.equal(after.observedSourceIp, report.pods.find((p) => p.pod === after.pod)?.expectedEgressIp, `pod ${after.pod} after the failover`);
    }

    const left = namespaces().filter((name) => !before.has(name) && (name.startsWith(`${LAB_PREFIX}-`) || name.startsWith("egwh-")));
    assert.deepEqual(left, [], "no namespace of the lab is left");
    assert.deepEqual(namespaces().filter((name) => report.lab.namespaces.includes(name)), []);
    assert.equal(existsSync(LAB_DIR), false, `${LAB_DIR} is removed`);
    assert.equal(supervisors(), "", "no lab supervisor is left running");
  });
});
