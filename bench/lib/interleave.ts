import { median, round } from "./stats.js";

/** One configuration of a side-by-side comparison: `measure` sets it up and returns its rate (or undefined: it could not run). */
export interface Contender {
  id: string;
  measure: () => Promise<number | undefined>;
}

/**
 * Every contender measured once per round, in the given order, for `rounds` rounds (A B C A B C …). A ratio is then
 * taken within each round, between measurements minutes apart at most, so that a machine whose load changes during
 * the run moves both sides of it; across rounds the median ratio is the figure and the spread shows how far to trust
 * it. A contender that returns undefined is left out of the later rounds (its reason is the caller's to record).
 */
export async function interleave(rounds: number, contenders: readonly Contender[]): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(contenders.map((c) => [c.id, []]));
  const dropped = new Set<string>();
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) {
      if (dropped.has(c.id)) continue;
      const value = await c.measure();
      if (value === undefined) dropped.add(c.id);
      else samples.get(c.id)?.push(value);
    }
  }
  return samples;
}

/** value / base within each round (rounds where either is missing are skipped). */
export function roundRatios(samples: ReadonlyMap<string, readonly number[]>, valueId: string, baseId: string): number[] {
  const values = samples.get(valueId) ?? [];
  const bases = samples.get(baseId) ?? [];
  return values.slice(0, bases.length).map((v, i) => v / (bases[i] as number));
}

/** The median of the per-round ratios, and the spread as a note: every ratio in round order, then min–max. */
export function ratioSummary(ratios: readonly number[]): { ratio: number; samples: number[]; spread: string } {
  const rounded = ratios.map((r) => round(r, 3));
  const spread = ratios.length === 0 ? "no pair measured"
    : `ratio per pair ${rounded.join(", ")} (min ${Math.min(...rounded)}, max ${Math.max(...rounded)})`;
  return { ratio: median([...ratios]), samples: rounded, spread };
}
