import type { Mapping } from "../model.js";
import { mappingElements, SET_NAMES, type NftState, type SetName, type StateChanges } from "../nft/state.js";

/** One mapping's change: as the kernel holds it (`before`) and as the store holds it now (`after`); undefined: none. */
export interface MappingChange {
  before: Mapping | undefined;
  after: Mapping | undefined;
}

type Elements = Map<SetName, Map<string, string>>;

/**
 * The element changes that take `realized` from the mappings' `before` versions to their `after` versions, without
 * rendering or walking the rest of the state. Undefined when that would not be what a full render gives: `realized`
 * lacks an element of a `before` version, or an `after` key is already held by something that stays. The caller then
 * renders the whole state, which finds out what is wrong.
 */
export function mappingStateChanges(realized: NftState, changes: readonly MappingChange[]): StateChanges | undefined {
  const removed: Elements = new Map();
  const added: Elements = new Map();
  let consistent = true;
  for (const { before } of changes) {
    if (!before) continue;
    mappingElements(before, (set, key, value) => {
      if (realized.sets[set].get(key) !== value) consistent = false;
      elementsOf(removed, set).set(key, value);
    });
  }
  for (const { after } of changes) {
    if (!after) continue;
    mappingElements(after, (set, key, value) => {
      const leaving = removed.get(set);
      if (leaving?.get(key) === value) {
        // Unchanged: neither removed nor added.
        leaving.delete(key);
        return;
      }
      const adding = elementsOf(added, set);
      if (adding.has(key) || (realized.sets[set].has(key) && !leaving?.has(key))) consistent = false;
      adding.set(key, value);
    });
  }
  if (!consistent) return undefined;
  return {
    sets: SET_NAMES.flatMap((name) => {
      const out = [...(removed.get(name) ?? [])];
      const into = [...(added.get(name) ?? [])];
      return out.length + into.length > 0 ? [{ name, removed: out, added: into }] : [];
    }),
    counters: { added: [], removed: [] },
  };
}

function elementsOf(elements: Elements, set: SetName): Map<string, string> {
  let of = elements.get(set);
  if (!of) elements.set(set, (of = new Map()));
  return of;
}
