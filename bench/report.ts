import type { BenchReport, Figure } from "./lib/results.js";

const verdict = (figure: Figure) => (figure.met === null ? "reported" : figure.met ? "met" : "**missed**");

/** docs/benchmarks.md's table of figures, from one report. */
export function renderBenchmarkTables(report: BenchReport): string {
  const lines = [
    `Latest run: ${report.date} — \`${report.command}\`${report.quick ? " (quick mode: small sizes, one repetition)" : ""}`,
    "",
    `Machine: ${report.machine.cpus} × ${report.machine.cpuModel}, ${report.machine.memoryGiB} GiB, kernel ${report.machine.kernel}, Node ${report.machine.node}, ${report.machine.nft}, ${report.machine.keepalived}.`,
    "",
  ];
  for (const section of ["data plane", "control plane", "failover", "translation log"] as const) {
    const figures = report.figures.filter((f) => f.section === section);
    if (figures.length === 0) continue;
    lines.push(`### ${section[0]?.toUpperCase()}${section.slice(1)}`, "", "| figure | value | baseline (same run) | ratio | target | verdict |", "|---|---|---|---|---|---|");
    for (const f of figures) {
      const base = f.baseline ? `${f.baseline.value.toLocaleString("en")} ${f.baseline.unit} (${f.baseline.title})` : "—";
      lines.push(`| ${f.title}${f.notes ? ` — ${f.notes}` : ""} | ${f.value.toLocaleString("en")} ${f.unit} | ${base} | ${f.ratio ?? "—"} | ${f.target} | ${verdict(f)} |`);
    }
    lines.push("");
  }
  if (report.errors.length > 0) {
    lines.push("### Benchmarks that failed to run", "");
    for (const e of report.errors) lines.push(`- ${e.bench}: ${e.error}`);
    lines.push("");
  }
  return lines.join("\n");
}
