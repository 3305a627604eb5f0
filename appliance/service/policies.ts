import { AppError } from "../errors.js";
import type { EgressPolicy, FloorRule, PolicyFloor, StoredPolicy } from "../model.js";
import { parsePrefix } from "../net/cidr.js";
import * as reads from "../store/reads.js";
import * as rows from "../store/rows.js";
import type { WriteContext } from "../store/store.js";
import type { Db } from "../store/database.js";
import type { FloorInput, PolicyInput } from "../schemas/policy-inputs.js";
import { requireCluster } from "./clusters.js";
import { assertWithinFloors, assertWithinSize, checkFloor, checkPolicy } from "./policy-check.js";

/** The floors that bind a cluster: the global one and its own. */
export function floorsOf(db: Db, cluster: string): PolicyFloor[] {
  return [reads.getFloor(db, null), reads.getFloor(db, cluster)].filter((f): f is PolicyFloor => f !== undefined);
}

const resource = (cluster: string, mapping: string | null): string =>
  (mapping === null ? `clusters/${cluster}/policy` : `clusters/${cluster}/mappings/${mapping}/policy`);

/**
 * Declarative: after it, the mapping's (or, `mapping` null, the cluster's default) policy is exactly `input`.
 * Re-sending the stored policy changes nothing (no revision, no audit record).
 */
export function putPolicy(tx: WriteContext, cluster: string, mapping: string | null, input: PolicyInput): StoredPolicy {
  requireCluster(tx.db, cluster);
  let family: 4 | 6 | undefined;
  if (mapping !== null) {
    const target = reads.getMapping(tx.db, cluster, mapping);
    if (!target) throw new AppError("not-found", `cluster ${cluster} has no mapping named ${mapping}`);
    family = parsePrefix(target.sourceCidr, "sourceCidr").family;
  }
  const policy = checkPolicy(input, family);
  assertWithinSize(policy, family);
  assertWithinFloors(policy, floorsOf(tx.db, cluster));
  const before = reads.getPolicy(tx.db, cluster, mapping);
  const stored: StoredPolicy = { cluster, mapping, policy };
  if (before && JSON.stringify(before.policy) === JSON.stringify(policy)) return stored;
  rows.upsertPolicy(tx.db, cluster, mapping, policy, tx.now);
  tx.audit({ action: before ? "update" : "create", resource: resource(cluster, mapping), before: before?.policy, after: policy });
  return stored;
}

export function deletePolicy(tx: WriteContext, cluster: string, mapping: string | null): void {
  requireCluster(tx.db, cluster);
  const before = reads.getPolicy(tx.db, cluster, mapping);
  if (!before) throw new AppError("not-found", mapping === null ? `cluster ${cluster} has no default policy` : `mapping ${mapping} of cluster ${cluster} has no policy`);
  rows.deletePolicy(tx.db, cluster, mapping);
  tx.audit({ action: "delete", resource: resource(cluster, mapping), before: before.policy });
}

/** A mapping that goes away takes its policy with it (called by the mapping service in the same transaction). */
export function forgetMappingPolicies(tx: WriteContext, cluster: string, gone: readonly string[]): void {
  for (const mapping of gone) {
    const before = reads.getPolicy(tx.db, cluster, mapping);
    if (!before) continue;
    rows.deletePolicy(tx.db, cluster, mapping);
    tx.audit({ action: "delete", resource: resource(cluster, mapping), before: before.policy });
  }
}

/**
 * The policy that governs each of a cluster's mappings: its own, else the cluster's default, else none.
 * `scope` says which.
 */
export function effectivePolicies(db: Db, cluster?: string): { cluster: string; mapping: string; scope: "mapping" | "cluster"; policy: EgressPolicy }[] {
  const stored = reads.listPolicies(db, cluster);
  // Every data-plane pass and every metrics scrape asks: without policies, the mappings need not be read at all.
  if (stored.length === 0) return [];
  const own = new Map(stored.filter((p) => p.mapping !== null).map((p) => [`${p.cluster}/${p.mapping}`, p.policy]));
  const defaults = new Map(stored.filter((p) => p.mapping === null).map((p) => [p.cluster, p.policy]));
  return reads.listMappingKeys(db, cluster).flatMap((m) => {
    const mine = own.get(`${m.cluster}/${m.name}`);
    const fallback = defaults.get(m.cluster);
    const scope: "mapping" | "cluster" = mine ? "mapping" : "cluster";
    const policy = mine ?? fallback;
    return policy ? [{ cluster: m.cluster, mapping: m.name, scope, policy }] : [];
  });
}

/**
 * The admin's floor (`cluster` null: global). Policies stored before a floor tightens stay stored; the data plane
 * applies the floor first, so they cannot allow what it denies (their next write is refused until they comply).
 */
export function putFloor(tx: WriteContext, cluster: string | null, input: FloorInput): PolicyFloor {
  if (cluster !== null) requireCluster(tx.db, cluster);
  const rules: FloorRule[] = checkFloor(input);
  const before = reads.getFloor(tx.db, cluster);
  const floor: PolicyFloor = { cluster, rules };
  if (before && JSON.stringify(before.rules) === JSON.stringify(rules)) return floor;
  rows.upsertFloor(tx.db, cluster, rules, tx.now);
  tx.audit({ action: before ? "update" : "create", resource: floorResource(cluster), before: before?.rules, after: rules });
  return floor;
}

export function deleteFloor(tx: WriteContext, cluster: string | null): void {
  if (cluster !== null) requireCluster(tx.db, cluster);
  const before = reads.getFloor(tx.db, cluster);
  if (!before) throw new AppError("not-found", cluster === null ? "there is no global floor" : `cluster ${cluster} has no floor`);
  rows.deleteFloor(tx.db, cluster);
  tx.audit({ action: "delete", resource: floorResource(cluster), before: before.rules });
}

const floorResource = (cluster: string | null): string => (cluster === null ? "policy-floor" : `clusters/${cluster}/policy-floor`);

/** Every DNS name the stored policies use (the daemon resolves these). */
export function policyNames(db: Db): string[] {
  const names = new Set<string>();
  for (const { policy } of reads.listPolicies(db)) {
    for (const rule of policy.rules) for (const destination of rule.destinations) if (destination.name !== undefined) names.add(destination.name);
  }
  return [...names].sort();
}
