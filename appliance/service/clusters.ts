import { AppError, type FieldProblem } from "../errors.js";
import type { Cluster, Quotas } from "../model.js";
import { findOverlap, parseAddress, parsePrefix, prefixContains, type Prefix } from "../net/cidr.js";
import * as reads from "../store/reads.js";
import * as rows from "../store/rows.js";
import type { Db } from "../store/database.js";
import type { WriteContext } from "../store/store.js";
import { overlapProblem, parsePrefixList, sortedCidrs } from "./prefix-lists.js";

export interface ClusterInput {
  name: string;
  description?: string | undefined;
  sourceRanges: string[];
  egressIps: string[];
  /** Left out: none (a PUT replaces the whole list, as for the other grants). */
  excludableDestinations?: string[] | undefined;
  /** Left out: no overrides, the daemon's defaults apply. */
  quotas?: Partial<Quotas> | undefined;
}

/** A cluster's grants, parsed once for checking a whole set of mappings against them. */
export interface ClusterGrants {
  ranges: Prefix[];
  excludable: Prefix[];
}

export function requireCluster(db: Db, name: string): Cluster {
  const cluster = reads.getCluster(db, name);
  if (!cluster) throw new AppError("not-found", `cluster ${name} does not exist`);
  return cluster;
}

/** The cluster's source ranges, parsed once for checking a whole set of mappings or routes against them. */
export function ownedRanges(cluster: Cluster): Prefix[] {
  return cluster.sourceRanges.map((range, i) => parsePrefix(range, `sourceRanges.${i}`));
}

export function grantsOf(cluster: Cluster): ClusterGrants {
  return {
    ranges: ownedRanges(cluster),
    excludable: cluster.excludableDestinations.map((cidr, i) => parsePrefix(cidr, `excludableDestinations.${i}`)),
  };
}

export function createCluster(tx: WriteContext, input: ClusterInput): Cluster {
  if (reads.getCluster(tx.db, input.name)) {
    throw new AppError("conflict", `cluster ${input.name} already exists`, { fields: [{ field: "name", reason: "already exists" }] });
  }
  rows.insertCluster(tx.db, input.name, input.description ?? "", tx.now);
  applyGrants(tx, input.name, input);
  applyLimits(tx, input.name, input);
  const after = reads.getCluster(tx.db, input.name) as Cluster;
  tx.audit({ action: "create", resource: `clusters/${input.name}`, after });
  return after;
}

export function replaceCluster(tx: WriteContext, input: ClusterInput): Cluster {
  const before = requireCluster(tx.db, input.name);
  rows.updateClusterDescription(tx.db, input.name, input.description ?? before.description, tx.now);
  applyGrants(tx, input.name, input);
  applyLimits(tx, input.name, input);
  const after = reads.getCluster(tx.db, input.name) as Cluster;
  if (JSON.stringify(before) !== JSON.stringify(after)) tx.audit({ action: "update", resource: `clusters/${input.name}`, before, after });
  return after;
}

/**
 * Deleting a cluster takes its mappings, routes and tokens with it, so it is refused while any exist
 * unless the caller says `cascade`: an accidental DELETE must not silently cut a cluster off.
 */
export function deleteCluster(tx: WriteContext, name: string, cascade: boolean): void {
  const before = requireCluster(tx.db, name);
  const mappings = reads.listMappings(tx.db, name);
  const routes = reads.listRoutes(tx.db, name);
  if (!cascade && (mappings.length > 0 || routes.length > 0)) {
    throw new AppError("in-use",
      `cluster ${name} still has ${mappings.length} mapping(s) and ${routes.length} route(s); delete them first or pass ?cascade=true`);
  }
  const policies = reads.listPolicies(tx.db, name);
  const floor = reads.getFloor(tx.db, name);
  // Its policies go with the cluster's row (foreign key); its floor has no key to follow.
  rows.deleteFloor(tx.db, name);
  rows.deleteCluster(tx.db, name);
  tx.audit({ action: "delete", resource: `clusters/${name}`, before: { ...before, mappings, routes, policies, floor: floor?.rules ?? null } });
}

/** Sets the source ranges and egress IPs a cluster owns, enforcing that no two clusters own the same thing. */
function applyGrants(tx: WriteContext, cluster: string, input: ClusterInput): void {
  const problems: FieldProblem[] = [];
  const prefixes = input.sourceRanges.map((text, i) => parsePrefix(text, `sourceRanges.${i}`));
  const duplicate = findOverlap(prefixes.map((p, i) => ({ p, i })), (x) => x.p);
  if (duplicate) {
    throw new AppError("overlap", `source ranges ${duplicate[0].p.cidr} and ${duplicate[1].p.cidr} overlap`,
      { fields: [{ field: `sourceRanges.${duplicate[1].i}`, reason: `overlaps ${duplicate[0].p.cidr}` }] });
  }
  rows.replaceSourceRanges(tx.db, cluster, []);
  prefixes.forEach((prefix, i) => {
    const other = reads.findOverlappingRange(tx.db, "cluster_source_ranges", prefix);
    if (other) {
      throw new AppError("overlap", `source range ${prefix.cidr} overlaps ${other.cidr}, owned by cluster ${other.cluster}`,
        { fields: [{ field: `sourceRanges.${i}`, reason: `overlaps ${other.cidr} of cluster ${other.cluster}` }], extra: { conflictsWith: other } });
    }
  });
  rows.replaceSourceRanges(tx.db, cluster, prefixes);
  assertStillCovered(tx.db, cluster, prefixes);

  const addresses = input.egressIps.map((text, i) => ({ i, address: parseAddress(text, `egressIps.${i}`).address }));
  for (const { i, address } of addresses) {
    const ip = reads.getEgressIp(tx.db, address);
    if (!ip) problems.push({ field: `egressIps.${i}`, reason: `egress IP ${address} does not exist; create it under /v1/egress-ips first` });
    else if (ip.cluster !== null && ip.cluster !== cluster) {
      throw new AppError("conflict", `egress IP ${address} is already granted to cluster ${ip.cluster}`,
        { fields: [{ field: `egressIps.${i}`, reason: `granted to cluster ${ip.cluster}` }], extra: { conflictsWith: { cluster: ip.cluster } } });
    }
  }
  if (problems.length > 0) throw new AppError("validation-failed", problems.map((p) => p.reason).join("; "), { fields: problems });
  const unique = [...new Set(addresses.map((a) => a.address))];
  const inUse = reads.listMappings(tx.db, cluster).filter((m) => !unique.includes(m.egressIp));
  if (inUse.length > 0) {
    const first = inUse[0]!;
    throw new AppError("in-use", `egress IP ${first.egressIp} is still used by mapping ${first.name}; change the mapping first`,
      { fields: [{ field: "egressIps", reason: `${first.egressIp} is used by mapping ${first.name}` }] });
  }
  rows.replaceClusterEgressIps(tx.db, cluster, unique);
}

/**
 * Sets which destinations the cluster's mappings may exclude from translation, and its quota overrides.
 * Quotas may be lowered below current usage: nothing is removed, the cluster just cannot grow.
 */
function applyLimits(tx: WriteContext, cluster: string, input: ClusterInput): void {
  const excludable = parsePrefixList(input.excludableDestinations, "excludableDestinations");
  const overlap = overlapProblem(excludable);
  if (overlap) throw new AppError("validation-failed", `${overlap.field}: ${overlap.reason}`, { fields: [overlap] });
  const after = excludable.map((item) => item.prefix);
  const before = grantsOf(requireCluster(tx.db, cluster)).excludable;
  const covered = (grants: Prefix[], cidr: string) => grants.some((grant) => prefixContains(grant, parsePrefix(cidr, "cidr")));
  // Only what this change uncovers counts: an exclusion stored before grants existed must not block every
  // later edit of the cluster (it needs a grant at its mapping's next write anyway).
  const stranded = reads.listMappings(tx.db, cluster).flatMap((m) => m.excludedDestinations.map((cidr) => ({ mapping: m.name, cidr })))
    .find(({ cidr }) => covered(before, cidr) && !covered(after, cidr));
  if (stranded) {
    throw new AppError("in-use", `mapping ${stranded.mapping} excludes ${stranded.cidr}, which would no longer lie inside the cluster's excludable destinations`,
      { fields: [{ field: "excludableDestinations", reason: `must still cover ${stranded.cidr} excluded by mapping ${stranded.mapping}` }] });
  }
  rows.updateClusterLimits(tx.db, cluster, sortedCidrs(excludable), input.quotas ?? {}, tx.now);
}

/** Shrinking a cluster's ranges must not strand mappings or routes outside them. */
function assertStillCovered(db: Db, cluster: string, ranges: Prefix[]): void {
  const inside = (cidr: string) => {
    const prefix = parsePrefix(cidr, "cidr");
    return ranges.some((range) => prefixContains(range, prefix));
  };
  const mapping = reads.listMappings(db, cluster).find((m) => !inside(m.sourceCidr));
  if (mapping) {
    throw new AppError("in-use", `mapping ${mapping.name} (${mapping.sourceCidr}) would no longer lie inside the cluster's source ranges`,
      { fields: [{ field: "sourceRanges", reason: `must still cover ${mapping.sourceCidr} of mapping ${mapping.name}` }] });
  }
  const route = reads.listRoutes(db, cluster).find((r) => !inside(r.prefix));
  if (route) {
    throw new AppError("in-use", `route ${route.prefix} would no longer lie inside the cluster's source ranges`,
      { fields: [{ field: "sourceRanges", reason: `must still cover route ${route.prefix}` }] });
  }
}
