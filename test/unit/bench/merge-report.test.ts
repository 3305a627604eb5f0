import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mergeReports, suiteOf } from "../../../bench/lib/merge-report.js";
import type { BenchReport, Figure } from "../../../bench/lib/results.js";
import { renderBenchmarkTables } from "../../../bench/report.js";
import { machine } from "./report-fixtures.js";

const figure = (id: string, value: number, extra: Partial<Figure> = {}): Figure => ({
  id, section: "control plane", title: id, value, unit: "ms", target: "—", met: null, ...extra,
});
const report = (date: string, command: string, figures: Figure[], extra: Partial<BenchReport> = {}): BenchReport => ({
  date, command, quick: false, machine, figures, errors: [], ...extra,
});
const ORDER = ["dataplane", "portrange", "controlplane", "churn", "failover", "translation-lookup", "translation-log", "policy"];

describe("merging a partial run into the last report", () => {
  it("tells the suite of a figure from a report written before figures recorded it", () => {
    assert.equal(suiteOf(figure("dp-rate-maps-100000", 1)), "dataplane");
    assert.equal(suiteOf(figure("dp-port-range", 1)), "portrange");
    assert.equal(suiteOf(figure("tl-lookup", 1)), "translation-lookup");
    assert.equal(suiteOf(figure("tl-keep-up", 1)), "translation-log");
    assert.equal(suiteOf(figure("cp-x", 1, { suite: "policy" })), "policy", "a recorded suite wins");
    assert.equal(suiteOf(figure("mystery", 1)), undefined);
  });

  it("keeps other suites' figures with their run, replaces the covered suites' figures whole", () => {
    // An old-format report: no suite, no run, no runs.
    const previous = report("2026-12-01T00:00:00.000Z", "npm run bench", [
      figure("dp-rate-maps-1", 100), figure("cp-write-live-10000", 190), figure("cp-gone", 5), figure("pol-compile-spread", 3), figure("mystery", 1),
    ]);
    const current = report("2026-12-03T00:00:00.000Z", "npm run bench -- --only controlplane", [
      figure("cp-write-live-10000", 90, { suite: "controlplane", run: "2026-12-03T00:00:00.000Z" }),
    ]);
    const merged = mergeReports(current, ["controlplane"], ORDER, previous);
    assert.deepEqual(merged.figures.map((f) => [f.id, f.value, f.suite, f.run]), [
      ["dp-rate-maps-1", 100, "dataplane", "2026-12-01T00:00:00.000Z"],
      ["cp-write-live-10000", 90, "controlplane", "2026-12-03T00:00:00.000Z"],
      ["pol-compile-spread", 3, "policy", "2026-12-01T00:00:00.000Z"],
    ], "cp-gone is not kept: its suite ran; mystery is not kept: its suite is unknown");
    assert.deepEqual(merged.runs, [
      { date: "2026-12-03T00:00:00.000Z", command: "npm run bench -- --only controlplane", suites: ["controlplane"], machine },
      { date: "2026-12-01T00:00:00.000Z", command: "npm run bench", suites: ["dataplane", "policy"], machine },
    ]);
    assert.equal(current.figures.length, 1, "this run's own report is left as it was (it goes to the dated file)");

    // A second partial run keeps each figure's own run, and drops a run that no longer contributes.
    const next = report("2026-12-04T00:00:00.000Z", "npm run bench -- --only dataplane,policy", [
      figure("dp-rate-maps-1", 110, { suite: "dataplane" }), figure("pol-compile-spread", 2, { suite: "policy" }),
    ]);
    const again = mergeReports(next, ["dataplane", "policy"], ORDER, merged);
    assert.deepEqual(again.figures.map((f) => [f.id, f.run]), [
      ["dp-rate-maps-1", "2026-12-04T00:00:00.000Z"],
      ["cp-write-live-10000", "2026-12-03T00:00:00.000Z"],
      ["pol-compile-spread", "2026-12-04T00:00:00.000Z"],
    ]);
    assert.deepEqual(again.runs?.map((r) => [r.date, r.suites]), [
      ["2026-12-04T00:00:00.000Z", ["dataplane", "policy"]],
      ["2026-12-03T00:00:00.000Z", ["controlplane"]],
    ]);
  });

  it("keeps the last figures of a suite that failed in this run", () => {
    const previous = report("2026-12-01T00:00:00.000Z", "npm run bench", [figure("fo-hard", 900, { suite: "failover" })]);
    const current = report("2026-12-03T00:00:00.000Z", "npm run bench", [], { errors: [{ bench: "failover", error: "boom" }] });
    const merged = mergeReports(current, [], ORDER, previous);
    assert.deepEqual(merged.figures.map((f) => [f.id, f.run]), [["fo-hard", "2026-12-01T00:00:00.000Z"]]);
    assert.deepEqual(merged.errors, [{ bench: "failover", error: "boom" }]);
  });

  it("without a previous report the merge is this run, and the table has no run column", () => {
    const current = report("2026-12-03T00:00:00.000Z", "npm run bench", [figure("cp-a", 1, { suite: "controlplane" })]);
    const merged = mergeReports(current, ["controlplane"], ORDER);
    assert.equal(merged.runs?.length, 1);
    assert.doesNotMatch(renderBenchmarkTables(merged), /\| run \|/);
  });

  it("marks each row of a merged table with the run that measured it", () => {
    const previous = report("2026-12-01T08:30:00.000Z", "npm run bench", [figure("fo-hard", 900, { section: "failover" })]);
    const current = report("2026-12-03T10:27:00.000Z", "npm run bench -- --only churn", [figure("churn-misses", 0, { suite: "churn", section: "data plane" })]);
    const text = renderBenchmarkTables(mergeReports(current, ["churn"], ORDER, previous));
    assert.match(text, /- 2026-12-03 10:27 — `npm run bench -- --only churn`: churn/);
    assert.match(text, /- 2026-12-01 08:30 — `npm run bench`: failover/);
    assert.match(text, /\| churn-misses \| 0 ms \|.*\| 2026-12-03 10:27 \|/);
    assert.match(text, /\| fo-hard \| 900 ms \|.*\| 2026-12-01 08:30 \|/);
  });

  it("says which machine a kept run ran on when it is not the latest run's: absolute figures do not compare across machines", () => {
    const other = { ...machine, cpuModel: "another CPU" };
    const previous = report("2026-12-01T08:30:00.000Z", "npm run bench", [figure("fo-hard", 900, { section: "failover" })], { machine: other });
    const current = report("2026-12-03T10:27:00.000Z", "npm run bench -- --only churn", [figure("churn-misses", 0, { suite: "churn", section: "data plane" })]);
    const merged = mergeReports(current, ["churn"], ORDER, previous);
    assert.deepEqual(merged.runs?.map((r) => r.machine?.cpuModel), ["test", "another CPU"]);
    const text = renderBenchmarkTables(merged);
    assert.match(text, /`npm run bench`: failover \(on 2 × another CPU, 4 GiB/);
    assert.doesNotMatch(text, /`npm run bench -- --only churn`: churn \(on/, "the latest run's machine is the one the table names");
    const older = mergeReports(report("2026-12-04T00:00:00.000Z", "npm run bench -- --only churn", [], {}), ["churn"], ORDER, { ...merged, runs: merged.runs?.map(({ machine: _m, ...run }) => run) });
    assert.match(renderBenchmarkTables(older), /failover \(on a machine not recorded\)/);
  });
});
