import type { Mapping } from "../model.js";
import { parsePrefix, prefixContains, prefixesOverlap, type Prefix } from "../net/cidr.js";
import type { MappingPolicyInput } from "../policy/compile.js";
import type { Binding, GuardInputs } from "../nft/state.js";
import type { DesiredState } from "./desired-state.js";

/**
 * What one cluster puts into the nft table: its mappings, the policies that govern them, its claimed source ranges
 * and the bindings of its routes (next-hop MAC . pod prefix). A tenant can only ever break its own contribution, so this is the
 * unit the reconciler holds back when the kernel refuses a change.
 */
export interface Contribution {
  mappings: Mapping[];
  policies: MappingPolicyInput[];
  claimed: string[];
  bound: Binding[];
}

export type Contributions = Map<string, Contribution>;

const empty = (): Contribution => ({ mappings: [], policies: [], claimed: [], bound: [] });

/** Splits the desired state by cluster; `macs` gives each next hop's MAC (absent while unresolved). */
export function contributionsByCluster(desired: DesiredState, macs: ReadonlyMap<string, string | undefined>): Contributions {
  const byCluster: Contributions = new Map();
  const of = (cluster: string): Contribution => {
    let contribution = byCluster.get(cluster);
    if (!contribution) byCluster.set(cluster, (contribution = empty()));
    return contribution;
  };
  const sources = new Map(desired.mappings.map((m) => [`${m.cluster}/${m.name}`, m.sourceCidr]));
  for (const mapping of desired.mappings) of(mapping.cluster).mappings.push(mapping);
  for (const { cluster, mapping, policy } of desired.policies ?? []) {
    const sourceCidr = sources.get(`${cluster}/${mapping}`);
    if (sourceCidr !== undefined) of(cluster).policies.push({ cluster, mapping, sourceCidr, policy });
  }
  for (const range of desired.sourceRanges) of(range.cluster).claimed.push(range.cidr);
  for (const route of desired.routes) {
    const mac = macs.get(route.via);
    if (mac !== undefined) of(route.cluster).bound.push({ mac, prefix: route.prefix });
  }
  return byCluster;
}

/**
 * All clusters' contributions as renderer input, clusters in name order: element order decides which of two
 * overlapping elements the kernel refuses, so the same contributions must always give the same batch.
 */
export function flatten(contributions: Contributions): { mappings: Mapping[]; policies: MappingPolicyInput[]; guards: GuardInputs } {
  const mappings: Mapping[] = [];
  const policies: MappingPolicyInput[] = [];
  const claimed: string[] = [];
  const bound: Binding[] = [];
  for (const cluster of [...contributions.keys()].sort()) {
    const c = contributions.get(cluster) as Contribution;
    mappings.push(...c.mappings);
    policies.push(...c.policies);
    claimed.push(...c.claimed);
    bound.push(...c.bound);
  }
  return { mappings, policies, guards: { claimed, bound } };
}

/** Comparable text of a contribution; no contribution and an empty one are the same. */
export function signature(contribution: Contribution | undefined): string {
  return JSON.stringify(contribution ?? empty());
}

/**
 * What of a held-back cluster's last good contribution may stay in force: only what it still wants, unchanged.
 * A refused change never holds back a removal (a revoked mapping, a range the admin took away, an egress IP
 * since granted to another cluster): the cluster keeps at most the part of its old state it has not withdrawn,
 * and a mapping it changed, or whose policy it changed, is withdrawn until the new version is accepted (fail closed
 * for that mapping).
 */
export function stillWanted(good: Contribution | undefined, desired: Contribution | undefined): Contribution | undefined {
  if (!good || !desired) return undefined;
  // A mapping stays only with the policy it had: without it, its pods would reach what the policy denies.
  const policyOf = (c: Contribution) => new Map(c.policies.map((p) => [p.mapping, JSON.stringify(p)]));
  const goodPolicies = policyOf(good);
  const desiredPolicies = policyOf(desired);
  const samePolicy = (name: string): boolean => goodPolicies.get(name) === desiredPolicies.get(name);
  const mappings = new Set(desired.mappings.map((m) => JSON.stringify(m)));
  const claimed = new Set(desired.claimed);
  const bound = new Set(desired.bound.map((b) => JSON.stringify(b)));
  const kept = good.mappings.filter((m) => mappings.has(JSON.stringify(m)) && samePolicy(m.name));
  const keptNames = new Set(kept.map((m) => m.name));
  // A withdrawn mapping's source is unmapped: dropped, or masqueraded where dataplane.unmappedTraffic says so. A
  // policy it had or wants keeps it to nothing meanwhile (no rule, deny), so masquerading never sets it free.
  // Only sources the cluster still claims, none overlapping another (the kernel's interval maps would refuse that).
  const denyAll = (p: MappingPolicyInput): MappingPolicyInput => ({ ...p, policy: { mode: "enforce", defaultAction: "deny", rules: [] } });
  const claimedNow = desired.claimed.map((c) => parsePrefix(c, "claimed"));
  const stubbed: Prefix[] = [];
  const withdrawn = [...good.policies, ...desired.policies].filter((p) => {
    if (keptNames.has(p.mapping) || !desired.mappings.some((m) => m.name === p.mapping)) return false;
    const source = parsePrefix(p.sourceCidr, "sourceCidr");
    if (!claimedNow.some((c) => prefixContains(c, source)) || stubbed.some((s) => prefixesOverlap(s, source))) return false;
    stubbed.push(source);
    return true;
  });
  return {
    mappings: kept,
    policies: [...good.policies.filter((p) => keptNames.has(p.mapping)), ...withdrawn.map(denyAll)],
    claimed: good.claimed.filter((c) => claimed.has(c)),
    bound: good.bound.filter((b) => bound.has(JSON.stringify(b))),
  };
}

/** Where a mapping sits in the store's order (listMappings: family, then the start of its source range). */
function storeOrderKey(mapping: Mapping): { family: number; start: bigint } {
  const prefix = parsePrefix(mapping.sourceCidr, "sourceCidr");
  return { family: prefix.family, start: prefix.start };
}

function beforeInStore(a: { family: number; start: bigint }, b: { family: number; start: bigint }): boolean {
  return a.family !== b.family ? a.family < b.family : a.start < b.start;
}

/**
 * `kept` (in the store's order, as a full read gives it) with `added` put in their places: a last-good contribution the
 * changelog's shortcut patched stays exactly what a full read would give, so the isolation's comparisons and the
 * order of a rendered batch do not depend on which way a pass went. A binary search per added mapping: a few prefix
 * parses, not one per kept mapping.
 */
export function mergeInStoreOrder(kept: readonly Mapping[], added: readonly Mapping[]): Mapping[] {
  const placed = added.map((mapping) => {
    const key = storeOrderKey(mapping);
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (beforeInStore(storeOrderKey(kept[mid] as Mapping), key)) lo = mid + 1;
      else hi = mid;
    }
    return { at: lo, key, mapping };
  }).sort((a, b) => a.at - b.at || (beforeInStore(a.key, b.key) ? -1 : beforeInStore(b.key, a.key) ? 1 : 0));
  const merged: Mapping[] = [];
  let next = 0;
  for (const { at, mapping } of placed) {
    while (next < at) merged.push(kept[next++] as Mapping);
    merged.push(mapping);
  }
  while (next < kept.length) merged.push(kept[next++] as Mapping);
  return merged;
}

/** `policies` in the order of the mappings they govern, as contributionsByCluster lists them. */
export function policiesInMappingOrder(mappings: readonly Mapping[], policies: readonly MappingPolicyInput[]): MappingPolicyInput[] {
  const byMapping = new Map(policies.map((p) => [p.mapping, p]));
  return mappings.flatMap((m) => {
    const policy = byMapping.get(m.name);
    return policy ? [policy] : [];
  });
}
