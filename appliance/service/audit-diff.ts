/**
 * The audit record of a whole-set replace names only what changed: the items removed or changed (before)
 * and added or changed (after). Automation re-sends its whole set every loop, and 100k mappings copied into
 * every audit row would dwarf the data they describe.
 */
export function changedItems<T>(before: T[], after: T[], keyOf: (item: T) => string): { before: T[]; after: T[] } {
  const text = (item: T) => JSON.stringify(item);
  const old = new Map(before.map((item) => [keyOf(item), text(item)]));
  const now = new Map(after.map((item) => [keyOf(item), text(item)]));
  return {
    before: before.filter((item) => now.get(keyOf(item)) !== old.get(keyOf(item))),
    after: after.filter((item) => old.get(keyOf(item)) !== now.get(keyOf(item))),
  };
}
