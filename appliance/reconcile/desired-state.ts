import type { EgressPolicy, Mapping, PolicyFloor, Route } from "../model.js";
import { effectivePolicies } from "../service/policies.js";
import { newestChangeTo, snapshotsCommitted } from "../store/changelog.js";
import type { Db } from "../store/database.js";
import * as reads from "../store/reads.js";
import { currentRevision } from "../store/revision.js";

/** Everything the data plane is built from, read at one revision in one read transaction. */
export interface DesiredState {
  revision: number;
  mappings: Mapping[];
  routes: Route[];
  egressIps: string[];
  /** Every cluster's source ranges: the addresses source binding guards ("claimed" ranges). */
  sourceRanges: { cluster: string; cidr: string }[];
  /** The policy that governs each mapping that has one (its own or its cluster's default). Absent: none. */
  policies?: { cluster: string; mapping: string; policy: EgressPolicy }[];
  /** The admin's floors: global (cluster null) and per cluster. Absent: none. */
  floors?: PolicyFloor[];
}

export function readDesiredState(db: Db): DesiredState {
  return db.transaction(() => ({
    revision: currentRevision(db),
    mappings: reads.listMappings(db),
    routes: reads.listRoutes(db),
    egressIps: egressIpAddresses(db),
    sourceRanges: reads.listSourceRanges(db),
    policies: effectivePolicies(db).map(({ cluster, mapping, policy }) => ({ cluster, mapping, policy })),
    floors: reads.listFloors(db),
  }))();
}

/** Each cluster's source ranges, by cluster: what a cluster's floor applies to. */
export function clusterSourcesOf(desired: DesiredState): Map<string, string[]> {
  const byCluster = new Map<string, string[]>();
  for (const { cluster, cidr } of desired.sourceRanges) byCluster.set(cluster, [...(byCluster.get(cluster) ?? []), cidr]);
  return byCluster;
}

/**
 * The tables the data plane is built from, but for egress_ips: a write to any other (tokens, clusters, the audit
 * log) costs the reconciler nothing. Of an egress IP the data plane uses its address only, so the reconciler
 * compares the list of addresses instead (egressIpAddresses): a changed description moves no packet.
 */
const DATAPLANE_TABLES = ["mappings", "routes", "cluster_source_ranges", "egress_policies", "policy_floors"] as const;

/** The newest revision that changed anything the data plane is built from, egress IPs aside (the reconciler's revision-based skip). */
export function dataplaneRevision(db: Db): number {
  return newestChangeTo(db, DATAPLANE_TABLES);
}

/** The egress IPs' addresses, in the order the desired state lists them: all the data plane takes from that table. */
export function egressIpAddresses(db: Db): string[] {
  return reads.listEgressIps(db).map((ip) => ip.address);
}

/** How many configuration snapshots this process has taken: one may replace everything at an unchanged revision. */
export function snapshotsTaken(db: Db): number {
  return snapshotsCommitted(db);
}
