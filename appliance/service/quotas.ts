import { AppError } from "../errors.js";
import type { Cluster, Quotas } from "../model.js";

/**
 * Per-cluster quotas: every mapping, route and destination prefix becomes kernel state that all tenants
 * share (one nft batch, one routing table), so one tenant must not be able to grow it without bound.
 */
export const DEFAULT_CLUSTER_QUOTAS: Quotas = { mappings: 10_000, routes: 10_000, destinations: 100_000 };
export const QUOTA_MAX = 1_000_000;

/** The quotas in force: the cluster's own overrides over the daemon's defaults. */
export function effectiveQuotas(cluster: Cluster, defaults: Quotas): Quotas {
  return { ...defaults, ...cluster.quotas };
}

/**
 * Refuses a write that would leave the cluster above a quota. A write that does not grow the count is
 * always allowed, so a cluster left above a lowered quota can still shrink or re-send its set.
 */
export function assertWithinQuota(cluster: Cluster, defaults: Quotas, quota: keyof Quotas, current: number, requested: number): void {
  const limit = effectiveQuotas(cluster, defaults)[quota];
  if (requested <= limit || requested <= current) return;
  const reason = `the ${quota} quota of cluster ${cluster.name} is ${limit}; this would make ${requested} (now ${current})`;
  throw new AppError("quota-exceeded", `${reason}; ask an admin to raise quotas.${quota}`, {
    fields: [{ field: `quotas.${quota}`, reason }],
    extra: { quota: { name: quota, limit, current, requested } },
  });
}

/** Destination and excluded-destination prefixes: each is one element of a kernel set. */
export function destinationCount(mappings: { destinations?: readonly string[] | undefined; excludedDestinations?: readonly string[] | undefined }[]): number {
  return mappings.reduce((sum, m) => sum + (m.destinations?.length ?? 0) + (m.excludedDestinations?.length ?? 0), 0);
}
