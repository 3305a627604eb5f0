import { execa } from "execa";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PACKAGE_ROOT } from "../appliance/paths.js";
import { cleanupAll } from "../lab/netns.js";
import { benchControlplane } from "./controlplane.js";
import { benchDataplane, benchPortRange } from "./dataplane.js";
import { benchFailover } from "./failover.js";
import { benchMappingChurn } from "./mapping-churn.js";
import { benchPolicy } from "./policy.js";
import { renderBenchmarkTables } from "./report.js";
import { benchTranslationLog } from "./translation-log.js";
import { benchTranslationLookup } from "./translation-lookup.js";
import { curveSeries, renderCostCurveSvg } from "./lib/cost-curve.js";
import { mergeReports } from "./lib/merge-report.js";
import { machineInfo, readLatest, writeReport, type BenchReport, type Figure } from "./lib/results.js";

const BEGIN = "<!-- bench:results:begin -->";
const END = "<!-- bench:results:end -->";
/** The cost-curve plot, beside docs/benchmarks.md (which links it). */
const COST_CURVE = "benchmarks-cost-curve.svg";

/**
 * `npm run bench` (or `-- --quick`): every figure of shared/performance.md beside its baseline, in one run,
 * written to bench/results/ and into docs/benchmarks.md between markers. Needs root (network namespaces).
 */
async function main(): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false }, only: { type: "string" } } });
  if (process.getuid?.() !== 0) {
    console.error("the benchmarks build network namespaces and must run as root");
    return 1;
  }
  const quick = values.quick ?? false;
  const only = values.only?.split(",");
  const log = (line: string) => console.log(line);
  const version = async (cmd: string, args: string[]) => String((await execa(cmd, args, { reject: false, all: true })).all ?? "").split("\n")[0]?.trim() ?? "";
  const report: BenchReport = {
    date: new Date().toISOString(),
    command: `npm run bench${quick || only ? " --" : ""}${quick ? " --quick" : ""}${only ? ` --only ${only.join(",")}` : ""}`,
    quick,
    machine: machineInfo({ kernel: await version("uname", ["-r"]), nft: await version("nft", ["--version"]), keepalived: await version("keepalived", ["--version"]) }),
    figures: [],
    errors: [],
  };
  const suites: [string, () => Promise<Figure[]>][] = [
    ["dataplane", () => benchDataplane({ quick, log })],
    ["portrange", async () => [await benchPortRange({ quick, log })]],
    ["controlplane", () => benchControlplane({ quick, log })],
    ["churn", () => benchMappingChurn({ quick, log })],
    ["failover", () => benchFailover({ quick, log })],
    ["translation-lookup", () => benchTranslationLookup({ quick, log })],
    ["translation-log", () => benchTranslationLog({ quick, log })],
    ["policy", () => benchPolicy({ quick, log })],
  ];
  const covered: string[] = [];
  for (const [name, run] of suites) {
    if (only && !only.includes(name)) continue;
    log(`== ${name}`);
    try {
      report.figures.push(...(await run()).map((f) => ({ ...f, suite: name, run: report.date })));
      covered.push(name);
    } catch (error) {
      report.errors.push({ bench: name, error: error instanceof Error ? error.message.slice(0, 2000) : String(error) });
      log(`  FAILED: ${String(error)}`);
    }
  }
  await cleanupAll();
  // The docs show every suite: those this run did not cover (or that failed) keep their last measured figures.
  const merged = mergeReports(report, covered, suites.map(([name]) => name), readLatest(quick));
  const files = writeReport(report, merged);
  log(`results: ${files.join(", ")}`);
  const plot = !quick && curveSeries(merged.figures).length > 0;
  const tables = renderBenchmarkTables(merged, plot ? { costCurveImage: COST_CURVE } : {});
  if (plot) writeFileSync(join(PACKAGE_ROOT, "docs", COST_CURVE), renderCostCurveSvg(merged.figures, `Cost curve — ${merged.date}`));
  if (!quick) {
    const docs = join(PACKAGE_ROOT, "docs", "benchmarks.md");
    const text = readFileSync(docs, "utf8");
    const start = text.indexOf(BEGIN);
    const end = text.indexOf(END);
    if (start >= 0 && end > start) {
      writeFileSync(docs, `${text.slice(0, start + BEGIN.length)}\n${tables}\n${text.slice(end)}`);
      log(`docs/benchmarks.md${plot ? ` and docs/${COST_CURVE}` : ""} updated`);
    }
  }
  console.log(tables);
  return report.errors.length === 0 ? 0 : 1;
}

process.exitCode = await main();
