import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

/** One figure of performance.md, measured beside its baseline in the same run. */
export interface Figure {
  id: string;
  section: "data plane" | "control plane" | "failover" | "translation log";
  title: string;
  value: number;
  unit: string;
  baseline?: { title: string; value: number; unit: string };
  ratio?: number;
  target: string;
  met: boolean | null;
  notes?: string;
  samples?: number[];
  /**
   * A point of the cost curve: the figure measured at `size` mappings (or rules). Figures with the same `series`
   * form one line of the plot in docs/benchmarks.md, so a reader sees how the cost grows with the work.
   */
  curve?: { series: string; size: number };
  /** The suite of bench/run.ts that measured it (absent in reports written before suites were recorded). */
  suite?: string;
  /** The date of the run that measured it: a merged report keeps other suites' figures from earlier runs. */
  run?: string;
}

/** One run whose figures a merged report holds. */
/** One run a merged report holds figures of, and the machine it ran on (absent: not recorded, a report before 0.6.1). */
export interface RunInfo { date: string; command: string; suites: string[]; machine?: BenchReport["machine"] }

export interface BenchReport {
  date: string;
  command: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; kernel: string; node: string; nft: string; keepalived: string };
  figures: Figure[];
  errors: { bench: string; error: string }[];
  /** In a merged report (latest.json): every run its figures come from, this run first. */
  runs?: RunInfo[];
}

export function machineInfo(versions: { kernel: string; nft: string; keepalived: string }): BenchReport["machine"] {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    ...versions,
  };
}

const RESULTS = join(PACKAGE_ROOT, "bench", "results");
const latestPath = (quick: boolean) => join(RESULTS, quick ? "latest-quick.json" : "latest.json");

/** The previous latest.json (or latest-quick.json), if there is a readable one. */
export function readLatest(quick: boolean): BenchReport | undefined {
  try {
    return JSON.parse(readFileSync(latestPath(quick), "utf8")) as BenchReport;
  } catch {
    return undefined;
  }
}

/**
 * Writes this run's own figures to a dated file and the merged report (every suite, the latest run of each) to
 * bench/results/latest.json, and returns their paths.
 */
export function writeReport(report: BenchReport, merged: BenchReport = report): string[] {
  mkdirSync(RESULTS, { recursive: true });
  const latest = latestPath(report.quick);
  const dated = join(RESULTS, `${report.date.slice(0, 19).replace(/[:T]/g, "-")}${report.quick ? "-quick" : ""}.json`);
  writeFileSync(latest, `${JSON.stringify(merged, null, 2)}\n`);
  writeFileSync(dated, `${JSON.stringify(report, null, 2)}\n`);
  return [latest, dated];
}
