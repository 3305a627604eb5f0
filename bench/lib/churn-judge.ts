/** One flow as the sink saw it: the sender's sequence number and send time, the arrival time, the source address. */
export type Flow = [seq: number, sentMs: number, arrivedMs: number, source: string];

/**
 * One write of a pod's mapping: asked at `start`, live in the kernel by `live` (the ?wait=true answer came back),
 * leaving the mapping at `egress` (null: no mapping; undefined: the write failed, so the state is not known).
 */
export interface Change { start: number; live: number; egress: string | null | undefined }

export interface Judgement {
  sent: number;
  /** Distinct flows that arrived. */
  arrived: number;
  /** Flows sent that never arrived. */
  drops: number;
  /** Flows that arrived from a source outside `expected` or, inside a settled window, not from that window's egress IP. */
  misses: number;
  /** Flows whose whole trip (sent .. arrived) lies inside a window where the mapping was settled: judged exactly. */
  judged: number;
  /** The union of the egress IPs the mapping had during the run. */
  expected: string[];
  bySource: Record<string, number>;
  /** A few misses, "seq from SOURCE (expected X)", to find them in the run. */
  samples: string[];
}

interface Window { from: number; to: number; egress: string | null | undefined }

/**
 * Judges one pod's flows against the history of its mapping. Every clock is the same host's, and each bound is
 * conservative: a flow crossed the gateway at some instant between its send stamp and its arrival, and between a
 * write's answer (`live`) and the next write's request (`start`) the kernel held exactly that write's state. So a flow
 * whose [sent, arrived] lies inside such a window must come from that window's egress IP (and must not arrive at all
 * while the pod has no mapping). A flow that straddles a change may come from either side, and is held only to the
 * union rule: any egress IP the mapping had during the run.
 */
export function judgeFlows(flows: Flow[], sent: number, initial: string | null, changes: Change[]): Judgement {
  const windows: Window[] = [{ from: -Infinity, to: changes[0]?.start ?? Infinity, egress: initial }];
  changes.forEach((change, k) => windows.push({ from: change.live, to: changes[k + 1]?.start ?? Infinity, egress: change.egress }));
  const expected = new Set([initial, ...changes.map((c) => c.egress)].filter((e): e is string => typeof e === "string"));
  const seen = new Set<number>();
  const bySource: Record<string, number> = {};
  const samples: string[] = [];
  let misses = 0;
  let judged = 0;
  for (const [seq, sentMs, arrivedMs, source] of flows) {
    seen.add(seq);
    bySource[source] = (bySource[source] ?? 0) + 1;
    const window = windows.find((w) => w.from <= sentMs && arrivedMs < w.to && w.egress !== undefined);
    if (window) judged++;
    const wrong = !expected.has(source) || (window !== undefined && window.egress !== source);
    if (!wrong) continue;
    misses++;
    if (samples.length < 5) samples.push(`${seq} from ${source} (expected ${window ? window.egress ?? "no arrival: no mapping" : [...expected].join(" or ")})`);
  }
  return { sent, arrived: seen.size, drops: sent - seen.size, misses, judged, expected: [...expected], bySource, samples };
}
