import type { Mapping } from "../model.js";
import { mappingElements, SET_NAMES, type NftState, type SetName, type StateChanges } from "../nft/state.js";

/** What one mapping's policy puts into the policy maps (see PolicyCompiler.elementsOf). */
export interface PolicyElements {
  elements: [SetName, string, string][];
  counters: string[];
}

/** One mapping as the kernel holds it or as the store holds it now: the mapping, and what its policy adds (if any). */
export interface MappingSide {
  mapping: Mapping;
  policy?: PolicyElements | undefined;
}

/** One mapping's change: as the kernel holds it (`before`) and as the store holds it now (`after`); undefined: none. */
export interface MappingChange {
  before: MappingSide | undefined;
  after: MappingSide | undefined;
}

type Elements = Map<SetName, Map<string, string>>;

/** Every element a side puts into the sets: its mapping's, then its policy's. */
function eachElement(side: MappingSide, visit: (set: SetName, key: string, value: string) => void): void {
  mappingElements(side.mapping, visit);
  for (const [set, key, value] of side.policy?.elements ?? []) visit(set, key, value);
}

/**
 * The element and counter changes that take `realized` from the mappings' `before` versions to their `after` versions,
 * without rendering or walking the rest of the state. Undefined when that would not be what a full render gives:
 * `realized` lacks an element or counter of a `before` version, or an `after` key or counter is already held by
 * something that stays. The caller then renders the whole state, which finds out what is wrong.
 */
export function mappingStateChanges(realized: NftState, changes: readonly MappingChange[]): StateChanges | undefined {
  const removed: Elements = new Map();
  const added: Elements = new Map();
  const countersBefore = new Set<string>();
  const countersAfter = new Set<string>();
  let consistent = true;
  for (const { before } of changes) {
    if (!before) continue;
    eachElement(before, (set, key, value) => {
      if (realized.sets[set].get(key) !== value) consistent = false;
      elementsOf(removed, set).set(key, value);
    });
    for (const counter of before.policy?.counters ?? []) {
      if (!realized.counters.has(counter)) consistent = false;
      countersBefore.add(counter);
    }
  }
  for (const { after } of changes) {
    if (!after) continue;
    eachElement(after, (set, key, value) => {
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
    for (const counter of after.policy?.counters ?? []) {
      if (countersAfter.has(counter) || (realized.counters.has(counter) && !countersBefore.has(counter))) consistent = false;
      countersAfter.add(counter);
    }
  }
  if (!consistent) return undefined;
  return {
    sets: SET_NAMES.flatMap((name) => {
      const out = [...(removed.get(name) ?? [])];
      const into = [...(added.get(name) ?? [])];
      return out.length + into.length > 0 ? [{ name, removed: out, added: into }] : [];
    }),
    counters: {
      added: [...countersAfter].filter((c) => !countersBefore.has(c)).sort(),
      removed: [...countersBefore].filter((c) => !countersAfter.has(c)).sort(),
    },
  };
}

function elementsOf(elements: Elements, set: SetName): Map<string, string> {
  let of = elements.get(set);
  if (!of) elements.set(set, (of = new Map()));
  return of;
}
