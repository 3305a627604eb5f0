import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseConntrackStats, parseCount, readConntrackStats } from "../../appliance/kernel/conntrack-stats.js";
import { PACKAGE_ROOT } from "../../appliance/paths.js";
import type { CommandRunner } from "../../appliance/system/runner.js";
import { FakeSysctls } from "../helpers/fake-sysctls.js";

/**
 * `conntrack -S` of conntrack-tools 1.4.7 on kernel 6.18, two CPUs, captured in a namespace whose SNAT map gave a pod
 * two source ports and which then sent five more flows: three inserts failed, one on CPU 0 and two on CPU 1.
 */
const CAPTURED = readFileSync(join(PACKAGE_ROOT, "test/unit/fixtures/conntrack-stats-6.18.txt"), "utf8");
/** The same tool on an older kernel, whose lines also carry entries, searched, new, delete… */
const OLDER = `cpu=0   \tentries=12 searched=5 found=100 new=40 invalid=2 ignore=7 delete=30 delete_list=30 insert=40 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0
cpu=1   \tentries=12 searched=3 found=50 new=20 invalid=0 ignore=1 delete=10 delete_list=10 insert=20 insert_failed=4 drop=5 early_drop=6 error=1 search_restart=0
`;

class Runner implements CommandRunner {
  calls: string[][] = [];
  constructor(private readonly outputs: Record<string, string>) {}
  async run(command: string, args: readonly string[]) {
    this.calls.push([command, ...args]);
    const stdout = this.outputs[[command, ...args].join(" ")];
    if (stdout === undefined) throw new Error(`unexpected command ${command} ${args.join(" ")}`);
    return { stdout, stderr: "", exitCode: 0 };
  }
}

describe("conntrack statistics", () => {
  it("sums the per-CPU lines of a captured `conntrack -S`", () => {
    const sums = parseConntrackStats(CAPTURED);
    assert.equal(sums["insert_failed"], 3);
    assert.equal(sums["drop"], 3);
    assert.equal(sums["found"], 7);
    assert.equal(sums["early_drop"], 0);
    assert.equal(sums["cpu"], undefined, "the CPU number is not a counter");
  });

  it("reads an older kernel's format too", () => {
    const sums = parseConntrackStats(OLDER);
    assert.deepEqual([sums["insert_failed"], sums["drop"], sums["early_drop"], sums["error"]], [4, 5, 6, 1]);
  });

  it("refuses output without statistics, and a count that is not a number", () => {
    assert.throws(() => parseConntrackStats("conntrack v1.4.7 (conntrack-tools): Operation not permitted\n"), { code: "command-failed" });
    assert.equal(parseCount("4\n"), 4);
    assert.throws(() => parseCount("conntrack: error\n"), { code: "command-failed" });
  });

  it("reads the counters with `conntrack -S` and the table's size and limit from /proc/sys, with no shell", async () => {
    const runner = new Runner({ "conntrack -S": CAPTURED });
    const sysctls = new FakeSysctls();
    sysctls.values.set("net/netfilter/nf_conntrack_count", "4");
    sysctls.values.set("net/netfilter/nf_conntrack_max", "262144");
    const stats = await readConntrackStats(runner, sysctls);
    assert.deepEqual({ ...stats, counters: undefined }, { insertFailed: 3, drop: 3, earlyDrop: 0, entries: 4, max: 262144, counters: undefined });
    assert.deepEqual(runner.calls, [["conntrack", "-S"]]);
  });

  it("falls back to `conntrack -C` where the count's sysctl is missing, and reports no limit it cannot read", async () => {
    const runner = new Runner({ "conntrack -S": CAPTURED, "conntrack -C": "17\n" });
    const stats = await readConntrackStats(runner, new FakeSysctls());
    assert.equal(stats.entries, 17);
    assert.equal(stats.max, null);
    assert.deepEqual(runner.calls, [["conntrack", "-S"], ["conntrack", "-C"]]);
  });
});
