import type { BenchReport, Figure, RunInfo } from "./results.js";

/** Which suite measured a figure of a report written before figures recorded it: by its id's prefix. */
const LEGACY_SUITES: [RegExp, string][] = [
  [/^dp-port-range$/, "portrange"],
  [/^dp-/, "dataplane"],
  [/^cp-/, "controlplane"],
  [/^churn-/, "churn"],
  [/^fo-/, "failover"],
  [/^tl-(fill-rate|bytes-per-record|lookup|commit-rate|reopen)$/, "translation-lookup"],
  [/^tl-/, "translation-log"],
  [/^pol-/, "policy"],
];

export function suiteOf(figure: Figure): string | undefined {
  return figure.suite ?? LEGACY_SUITES.find(([pattern]) => pattern.test(figure.id))?.[1];
}

/**
 * The report docs/benchmarks.md shows: this run's figures for the suites it ran (`covered`: those that did not
 * fail), and for every other suite the figures `previous` (the last merged report) held, each keeping the date of
 * the run that measured it. A suite this run covered never keeps an old figure, even one whose id it no longer
 * produces; a figure whose suite cannot be told is dropped rather than shown as current. Figures come out in
 * `order` of suites (bench/run.ts's order), so the tables do not reshuffle from run to run.
 */
export function mergeReports(current: BenchReport, covered: string[], order: string[], previous?: BenchReport): BenchReport {
  const mine = current.figures.map((f) => ({ ...f, suite: f.suite, run: f.run ?? current.date }));
  const kept = (previous?.figures ?? [])
    .map((f) => ({ ...f, suite: suiteOf(f), run: f.run ?? previous?.date }))
    .filter((f): f is Figure & { suite: string; run: string } => f.suite !== undefined && f.run !== undefined && !covered.includes(f.suite));
  const rank = (f: Figure) => {
    const index = order.indexOf(f.suite ?? "");
    return index < 0 ? order.length : index;
  };
  const figures = [...mine, ...kept].map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);

  const earlier: RunInfo[] = previous?.runs ?? (previous ? [{ date: previous.date, command: previous.command, suites: [] }] : []);
  const runs: RunInfo[] = [{ date: current.date, command: current.command, suites: covered, machine: current.machine }];
  for (const run of earlier) {
    const suites = [...new Set(kept.filter((f) => f.run === run.date).map((f) => f.suite))];
    // The previous report's own run ran on the previous report's machine.
    const machine = run.machine ?? (run.date === previous?.date ? previous.machine : undefined);
    if (suites.length > 0 && run.date !== current.date) runs.push({ date: run.date, command: run.command, suites, ...(machine ? { machine } : {}) });
  }
  return { ...current, figures, runs };
}
