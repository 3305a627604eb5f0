import { renderCostCurveTable } from "./lib/cost-curve.js";
import type { BenchReport, Figure } from "./lib/results.js";

const verdict = (figure: Figure) => (figure.met === null ? "reported" : figure.met ? "met" : "**missed**");
/** "2026-12-03 10:27" from an ISO date: enough to tell runs apart in a table cell. */
const shortDate = (iso: string) => iso.slice(0, 16).replace("T", " ");

export interface TableOptions {
  /** The cost-curve plot's path relative to docs/benchmarks.md, linked under the cost-curve table (full runs only). */
  costCurveImage?: string;
}

/**
 * docs/benchmarks.md's tables of figures, from one report. A merged report (figures of several runs, see
 * lib/merge-report.ts) lists its runs and gets a column saying which run measured each figure.
 */
function machineText(m: BenchReport["machine"]): string {
  return `${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, kernel ${m.kernel}, Node ${m.node}, ${m.nft}, ${m.keepalived}`;
}

function sameMachine(a: BenchReport["machine"] | undefined, b: BenchReport["machine"]): boolean {
  return a !== undefined && machineText(a) === machineText(b);
}

export function renderBenchmarkTables(report: BenchReport, options: TableOptions = {}): string {
  const runs = report.runs ?? [];
  const merged = runs.length > 1;
  const lines = [
    `Latest run: ${report.date} — \`${report.command}\`${report.quick ? " (quick mode: small sizes, one repetition)" : ""}`,
    "",
  ];
  if (merged) {
    lines.push("This run covered only some suites; the others' figures are kept from the runs that last measured them (column *run*):", "");
    for (const run of runs) {
      // Absolute figures (ms, s, MiB) of runs on different machines do not compare; ratios within a run do.
      const where = sameMachine(run.machine, report.machine) ? "" : ` (on ${run.machine ? machineText(run.machine) : "a machine not recorded"})`;
      lines.push(`- ${shortDate(run.date)} — \`${run.command}\`: ${run.suites.join(", ")}${where}`);
    }
    lines.push("");
  }
  lines.push(`Machine: ${machineText(report.machine)}.`, "");
  for (const section of ["data plane", "control plane", "failover", "translation log"] as const) {
    const figures = report.figures.filter((f) => f.section === section);
    if (figures.length === 0) continue;
    const runHead = merged ? " run |" : "";
    lines.push(`### ${section[0]?.toUpperCase()}${section.slice(1)}`, "", `| figure | value | baseline (same run) | ratio | target | verdict |${runHead}`, `|---|---|---|---|---|---|${merged ? "---|" : ""}`);
    for (const f of figures) {
      const base = f.baseline ? `${f.baseline.value.toLocaleString("en")} ${f.baseline.unit} (${f.baseline.title})` : "—";
      const run = merged ? ` ${f.run ? shortDate(f.run) : "—"} |` : "";
      lines.push(`| ${f.title}${f.notes ? ` — ${f.notes}` : ""} | ${f.value.toLocaleString("en")} ${f.unit} | ${base} | ${f.ratio ?? "—"} | ${f.target} | ${verdict(f)} |${run}`);
    }
    lines.push("");
  }
  const curve = renderCostCurveTable(report.figures);
  if (curve) {
    lines.push("### Cost curve", "", "Each figure measured at 1k, 10k, 100k and 1M mappings (— where that size was not measured):", "", curve, "");
    if (options.costCurveImage) lines.push(`![The cost curve: one chart per series, mappings on a log scale](${options.costCurveImage})`, "");
  }
  if (report.errors.length > 0) {
    lines.push("### Benchmarks that failed to run", "");
    for (const e of report.errors) lines.push(`- ${e.bench}: ${e.error}`);
    lines.push("");
  }
  return lines.join("\n");
}
