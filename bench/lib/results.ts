import { mkdirSync, writeFileSync } from "node:fs";
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
}

export interface BenchReport {
  date: string;
  command: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; kernel: string; node: string; nft: string; keepalived: string };
  figures: Figure[];
  errors: { bench: string; error: string }[];
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

/** Writes bench/results/latest.json and a dated copy, and returns their paths. */
export function writeReport(report: BenchReport): string[] {
  const dir = join(PACKAGE_ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  const latest = join(dir, report.quick ? "latest-quick.json" : "latest.json");
  const dated = join(dir, `${report.date.slice(0, 19).replace(/[:T]/g, "-")}${report.quick ? "-quick" : ""}.json`);
  writeFileSync(latest, text);
  writeFileSync(dated, text);
  return [latest, dated];
}
