import type { EgressPolicy, Mapping, PolicyFloor, Route } from "../model.js";
import { effectivePolicies } from "../service/policies.js";
import { changedKeysSince, newestChangeTo, snapshotsCommitted } from "../store/changelog.js";
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

/** What changed since a revision when only mappings and their policies did (see readMappingChanges). */
export interface MappingChanges {
  revision: number;
  /** dataplaneRevision at `revision`. */
  dataplane: number;
  egressIps: string[];
  /** snapshotsTaken at `revision`: a snapshot empties the changelog, so a pass must not take "no entries" for "no change". */
  snapshots: number;
  /**
   * Each mapping changed since, or governed by a policy changed since: as the store holds it now (undefined: gone),
   * with the policy that governs it now (its own or its cluster's default).
   */
  mappings: { cluster: string; name: string; now: Mapping | undefined; policy: EgressPolicy | undefined }[];
}

/**
 * The mappings changed after `since`, and those whose policy changed, read with everything the shortcut depends on in
 * one read transaction; undefined when the shortcut does not apply: the changelog no longer covers `since`, more than
 * `limit` rows or mappings changed, or another data-plane table (routes, source ranges, floors) changed.
 */
export function readMappingChanges(db: Db, since: number, limit: number): MappingChanges | undefined {
  return db.transaction((): MappingChanges | undefined => {
    const revision = currentRevision(db);
    // At most limit + 1 keys: a whole-set PUT of 100k mappings is not read only to be told to take the full path.
    const history = changedKeysSince(db, since, revision, limit);
    if (!history || history.length > limit) return undefined;
    const changed = new Map<string, { cluster: string; name: string }>();
    const add = (cluster: string, name: string) => changed.set(`${cluster}/${name}`, { cluster, name });
    const defaultsChanged = new Set<string>();
    for (const entry of history) {
      const cluster = String(entry.pk["cluster"]);
      if (entry.tbl === "mappings") {
        add(cluster, String(entry.pk["name"]));
      } else if (entry.tbl === "egress_policies") {
        const mapping = String(entry.pk["mapping"]);
        // A cluster's default governs each of its mappings without a policy of its own.
        if (mapping !== "") add(cluster, mapping);
        else defaultsChanged.add(cluster);
      } else if ((DATAPLANE_TABLES as readonly string[]).includes(entry.tbl)) {
        return undefined;
      }
      if (changed.size > limit) return undefined;
    }
    for (const cluster of defaultsChanged) {
      for (const name of reads.mappingsWithoutOwnPolicy(db, cluster, limit + 1)) add(cluster, name);
      if (changed.size > limit) return undefined;
    }
    return {
      revision, dataplane: dataplaneRevision(db), egressIps: egressIpAddresses(db), snapshots: snapshotsCommitted(db),
      mappings: [...changed.values()].map(({ cluster, name }) => {
        const now = reads.getMapping(db, cluster, name);
        const policy = now && (reads.getPolicy(db, cluster, name) ?? reads.getPolicy(db, cluster, null))?.policy;
        return { cluster, name, now, policy };
      }),
    };
  })();
}
