import type { Mapping } from "../model.js";
import type { Binding, GuardInputs } from "../nft/state.js";
import type { DesiredState } from "./desired-state.js";

/**
 * What one cluster puts into the nft table: its mappings, its claimed source ranges and the bindings of its
 * routes (next-hop MAC . pod prefix). A tenant can only ever break its own contribution, so this is the
 * unit the reconciler holds back when the kernel refuses a change.
 */
export interface Contribution {
  mappings: Mapping[];
  claimed: string[];
  bound: Binding[];
}

export type Contributions = Map<string, Contribution>;

const empty = (): Contribution => ({ mappings: [], claimed: [], bound: [] });

/** Splits the desired state by cluster; `macs` gives each next hop's MAC (absent while unresolved). */
export function contributionsByCluster(desired: DesiredState, macs: ReadonlyMap<string, string | undefined>): Contributions {
  const byCluster: Contributions = new Map();
  const of = (cluster: string): Contribution => {
    let contribution = byCluster.get(cluster);
    if (!contribution) byCluster.set(cluster, (contribution = empty()));
    return contribution;
  };
  for (const mapping of desired.mappings) of(mapping.cluster).mappings.push(mapping);
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
export function flatten(contributions: Contributions): { mappings: Mapping[]; guards: GuardInputs } {
  const mappings: Mapping[] = [];
  const claimed: string[] = [];
  const bound: Binding[] = [];
  for (const cluster of [...contributions.keys()].sort()) {
    const c = contributions.get(cluster) as Contribution;
    mappings.push(...c.mappings);
    claimed.push(...c.claimed);
    bound.push(...c.bound);
  }
  return { mappings, guards: { claimed, bound } };
}

/** Comparable text of a contribution; no contribution and an empty one are the same. */
export function signature(contribution: Contribution | undefined): string {
  return JSON.stringify(contribution ?? empty());
}

/**
 * What of a held-back cluster's last good contribution may stay in force: only what it still wants, unchanged.
 * A refused change never holds back a removal (a revoked mapping, a range the admin took away, an egress IP
 * since granted to another cluster): the cluster keeps at most the part of its old state it has not withdrawn,
 * and a mapping it changed is withdrawn until the new version is accepted (fail closed for that mapping).
 */
export function stillWanted(good: Contribution | undefined, desired: Contribution | undefined): Contribution | undefined {
  if (!good || !desired) return undefined;
  const mappings = new Set(desired.mappings.map((m) => JSON.stringify(m)));
  const claimed = new Set(desired.claimed);
  const bound = new Set(desired.bound.map((b) => JSON.stringify(b)));
  return {
    mappings: good.mappings.filter((m) => mappings.has(JSON.stringify(m))),
    claimed: good.claimed.filter((c) => claimed.has(c)),
    bound: good.bound.filter((b) => bound.has(JSON.stringify(b))),
  };
}
