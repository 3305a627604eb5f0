import type { Mapping } from "../model.js";
import { POLICY_SET_NAMES, type CompiledPolicies } from "../policy/compile.js";

/**
 * The data plane's contents in a normalised, comparable form. The renderer turns desired mappings into
 * one of these, the readback turns `nft -j list table` into one, and the reconciler diffs them.
 * Keys are canonical prefixes; concatenations are joined with " . " as nft prints them.
 */
export const SET_NAMES = [
  "snat_v4", "snat_v6", "snat_dst_v4", "snat_dst_v6", "nonat_v4", "nonat_v6",
  "eip_out_v4", "eip_out_v6", "eip_in_v4", "eip_in_v6",
  "claimed_v4", "claimed_v6", "bound_v4", "bound_v6",
  ...POLICY_SET_NAMES,
] as const;
export type SetName = (typeof SET_NAMES)[number];

export interface NftState {
  /** For maps the value is the data (an address or a counter name); for sets it is "". */
  sets: Record<SetName, Map<string, string>>;
  counters: Set<string>;
  /** Rule comments per chain, in order: each rule's identity. */
  chains: Record<string, string[]>;
  /**
   * What each rule does, per chain in the order of `chains`: the canonical form of its statements (see
   * rule-form.ts), so that a rule edited in place under its old comment is still seen.
   */
  ruleForms: Record<string, string[]>;
  /**
   * When elements expire (ms since the epoch; the kernel removes them a little later by itself): the elements a DNS
   * name contributes. Only what the daemon rendered has them; a readback has none, and then they are not compared.
   */
  expiries?: Partial<Record<SetName, Map<string, number>>>;
}

export function emptySets(): Record<SetName, Map<string, string>> {
  return Object.fromEntries(SET_NAMES.map((name) => [name, new Map<string, string>()])) as Record<SetName, Map<string, string>>;
}

/** Named counter for one egress IP and direction; nft object names allow only [a-zA-Z0-9_]. */
export function counterName(direction: "out" | "in", address: string): string {
  const family = address.includes(":") ? "v6" : "v4";
  return `${direction}_${family}_${address.replace(/[.:]/g, "_")}`;
}

/** A route's next hop, seen from the inside link: frames from pods of `prefix` must come from `mac`. */
export interface Binding {
  mac: string;
  prefix: string;
}

/**
 * What the source-binding guard is built from: every cluster's source ranges ("claimed": a packet from
 * there must prove where it came from) and, per registered route whose next hop's MAC is known, the MAC
 * that may send from that route's prefix.
 */
export interface GuardInputs {
  claimed: readonly string[];
  bound: readonly Binding[];
}

/** Mappings, egress IPs and guard inputs → the elements our sets and maps must hold. */
export function desiredSets(
  mappings: readonly Mapping[],
  egressIps: readonly string[],
  guards: GuardInputs = { claimed: [], bound: [] },
  policies?: CompiledPolicies,
): { sets: Record<SetName, Map<string, string>>; counters: Set<string>; expiries: Partial<Record<SetName, Map<string, number>>> } {
  const sets = emptySets();
  const expiries: Partial<Record<SetName, Map<string, number>>> = {};
  const counters = new Set<string>();
  if (policies) {
    for (const name of POLICY_SET_NAMES) {
      for (const [key, element] of policies.sets[name]) {
        sets[name].set(key, element.value);
        if (element.expiresAt !== undefined) (expiries[name] ??= new Map()).set(key, element.expiresAt);
      }
    }
    for (const counter of policies.counters.keys()) counters.add(counter);
  }
  const family = (cidr: string) => (cidr.includes(":") ? "v6" : "v4");
  for (const cidr of guards.claimed) sets[`claimed_${family(cidr)}`].set(cidr, "");
  for (const { mac, prefix } of guards.bound) sets[`bound_${family(prefix)}`].set(`${mac.toLowerCase()} . ${prefix}`, "");
  for (const m of mappings) mappingElements(m, (name, key, value) => sets[name].set(key, value));
  for (const address of egressIps) {
    const v = address.includes(":") ? "v6" : "v4";
    for (const direction of ["out", "in"] as const) {
      const name = counterName(direction, address);
      counters.add(name);
      sets[`eip_${direction}_${v}`].set(address, name);
    }
  }
  return { sets, counters, expiries };
}

/**
 * The elements one mapping puts into the mapping sets, given to `add`. Mapping sources never overlap (the store
 * refuses it), so no two mappings share a key: what a mapping adds is its own.
 */
export function mappingElements(m: Pick<Mapping, "sourceCidr" | "egressIp" | "destinations" | "excludedDestinations">, add: (set: SetName, key: string, value: string) => void): void {
  const v = m.sourceCidr.includes(":") ? "v6" : "v4";
  for (const excluded of m.excludedDestinations) add(`nonat_${v}`, `${m.sourceCidr} . ${excluded}`, "");
  if (m.destinations.length === 0) add(`snat_${v}`, m.sourceCidr, m.egressIp);
  for (const destination of m.destinations) add(`snat_dst_${v}`, `${m.sourceCidr} . ${destination}`, m.egressIp);
}

export interface StateDifference {
  what: string;
  detail: string;
}

/** Lists how `actual` differs from `wanted` (empty when they are the same), for logs and drift reports. */
export function diffStates(wanted: NftState, actual: NftState): StateDifference[] {
  const differences: StateDifference[] = [];
  for (const name of SET_NAMES) {
    const w = wanted.sets[name];
    const a = actual.sets[name];
    let missing = 0;
    let wrong = 0;
    for (const [key, value] of w) {
      if (!a.has(key)) missing++;
      else if (a.get(key) !== value) wrong++;
    }
    const extra = [...a.keys()].filter((key) => !w.has(key)).length;
    // Compared only between two rendered states (a readback knows no expiries): a later expiry must be re-sent.
    if (wanted.expiries && actual.expiries) wrong += [...w.keys()].filter((key) => a.has(key) && wanted.expiries?.[name]?.get(key) !== actual.expiries?.[name]?.get(key)).length;
    if (missing + wrong + extra > 0) differences.push({ what: `set ${name}`, detail: `${missing} missing, ${wrong} different, ${extra} unexpected` });
  }
  const missingCounters = [...wanted.counters].filter((c) => !actual.counters.has(c));
  const extraCounters = [...actual.counters].filter((c) => !wanted.counters.has(c));
  if (missingCounters.length + extraCounters.length > 0) {
    differences.push({ what: "counters", detail: `${missingCounters.length} missing, ${extraCounters.length} unexpected` });
  }
  const chainNames = new Set([...Object.keys(wanted.chains), ...Object.keys(actual.chains)]);
  for (const chain of chainNames) {
    const w = wanted.chains[chain];
    const a = actual.chains[chain];
    if (!a) differences.push({ what: `chain ${chain}`, detail: "missing" });
    else if (!w) differences.push({ what: `chain ${chain}`, detail: "unexpected" });
    else if (w.join("\n") !== a.join("\n")) differences.push({ what: `chain ${chain}`, detail: `rules [${a.join(", ")}], expected [${w.join(", ")}]` });
    else {
      for (const edit of editedRules(wanted, actual, chain)) {
        differences.push({ what: `rule ${edit.comment} in chain ${chain}`, detail: `${edit.actual}, expected ${edit.wanted}` });
      }
    }
  }
  return differences;
}

/**
 * The rules of a chain that sit where they should under the comment they should have, but do something else
 * (edited in place): their forms (see rule-form.ts) as wanted and as found. Only meaningful for a chain whose
 * comments are as wanted.
 */
export function editedRules(wanted: NftState, actual: NftState, chain: string): { comment: string; wanted: string; actual: string }[] {
  const w = wanted.ruleForms[chain] ?? [];
  const a = actual.ruleForms[chain] ?? [];
  return (wanted.chains[chain] ?? []).flatMap((comment, i) => (w[i] === a[i] ? [] : [{ comment, wanted: w[i] ?? "(unknown)", actual: a[i] ?? "(unknown)" }]));
}

/** The element and counter changes that turn `from` into `to` (a changed mapped value is a removal and an addition). */
export interface StateChanges {
  sets: { name: SetName; removed: [string, string][]; added: [string, string][] }[];
  counters: { added: string[]; removed: string[] };
}

export function stateChanges(from: NftState, to: NftState): StateChanges {
  const sets = SET_NAMES.map((name) => {
    const before = from.sets[name];
    const after = to.sets[name];
    return {
      name,
      removed: [...before].filter(([key, value]) => after.get(key) !== value || expiryMoved(from, to, name, key)),
      added: [...after].filter(([key, value]) => before.get(key) !== value || expiryMoved(from, to, name, key)),
    };
  });
  return {
    sets: sets.filter((s) => s.removed.length + s.added.length > 0),
    counters: {
      added: [...to.counters].filter((c) => !from.counters.has(c)).sort(),
      removed: [...from.counters].filter((c) => !to.counters.has(c)).sort(),
    },
  };
}

/**
 * An element whose expiry changed is deleted and added again in the same transaction: the kernel keeps the timeout
 * an element was added with, and an atomic batch leaves no moment without it.
 */
function expiryMoved(from: NftState, to: NftState, name: SetName, key: string): boolean {
  if (!from.expiries || !to.expiries) return false;
  return from.expiries[name]?.get(key) !== to.expiries[name]?.get(key);
}

/** How many elements and counters a change touches: the size of its batch. */
export function changeCount(changes: StateChanges): number {
  return changes.sets.reduce((n, s) => n + s.removed.length + s.added.length, changes.counters.added.length + changes.counters.removed.length);
}

export function cloneState(state: NftState): NftState {
  return {
    sets: Object.fromEntries(SET_NAMES.map((name) => [name, new Map(state.sets[name])])) as Record<SetName, Map<string, string>>,
    counters: new Set(state.counters),
    chains: Object.fromEntries(Object.entries(state.chains).map(([k, v]) => [k, [...v]])),
    ruleForms: Object.fromEntries(Object.entries(state.ruleForms).map(([k, v]) => [k, [...v]])),
    ...(state.expiries ? { expiries: Object.fromEntries(Object.entries(state.expiries).map(([k, v]) => [k, new Map(v)])) } : {}),
  };
}

/** Makes `state` hold what `changes` lead to, in place (the kernel's side is the caller's). */
export function applyStateChanges(state: NftState, changes: StateChanges): void {
  for (const { name, removed, added } of changes.sets) {
    for (const [key] of removed) state.sets[name].delete(key);
    for (const [key, value] of added) state.sets[name].set(key, value);
  }
  for (const counter of changes.counters.removed) state.counters.delete(counter);
  for (const counter of changes.counters.added) state.counters.add(counter);
}

/** The changes that undo `changes`: what was added goes, what was removed comes back. */
export function invertedChanges(changes: StateChanges): StateChanges {
  return {
    sets: changes.sets.map(({ name, removed, added }) => ({ name, removed: added, added: removed })),
    counters: { added: changes.counters.removed, removed: changes.counters.added },
  };
}
