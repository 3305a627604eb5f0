import type { Db } from "../../store/database.js";
import { egressIpGrant, listClusterSourceRanges, sourceRangeOwner } from "../../store/reads.js";
import { TABLES_BY_NAME } from "../../store/replicated-tables.js";

/**
 * What a store check looks at. A snapshot is checked in full; a batch of changes only where it could have
 * broken a rule: the rows it wrote, plus the rows whose validity depends on what it took away (a cluster
 * that lost a source range has its mappings and routes re-checked; an egress IP whose grant went to
 * another cluster, or away, has the mappings that use it re-checked). That is what the API's own write
 * would have checked, so a small change stays cheap in a store of 100k mappings, and a PUT of a cluster
 * that rewrites its ranges and grants unchanged (the service deletes and re-inserts them) re-checks nothing.
 */
export interface InvariantScope {
  full: boolean;
  /** Per table, the primary keys (JSON arrays in key order) of the rows written. */
  rows: Map<string, Set<string>>;
  /** Clusters whose source ranges were written, with the ranges they had before the message. */
  rangesBefore: Map<string, Set<string>>;
  /** Egress IPs whose grant was written, with the cluster each was granted to before the message. */
  grantsBefore: Map<string, string | null>;
}

export function fullScope(): InvariantScope {
  return { full: true, rows: new Map(), rangesBefore: new Map(), grantsBefore: new Map() };
}

export function emptyScope(): InvariantScope {
  return { full: false, rows: new Map(), rangesBefore: new Map(), grantsBefore: new Map() };
}

export function keyText(values: readonly unknown[]): string {
  return JSON.stringify(values);
}

/**
 * Adds one replicated row change to the scope. Called before the change is applied, so that what the
 * store held before the message (a deleted range's cluster, that cluster's ranges, a grant's owner) can
 * still be read; only the first sighting of a cluster or address counts, later ones already see the message.
 */
export function observeChange(db: Db, scope: InvariantScope, table: string, pk: Record<string, unknown>, row: Record<string, unknown> | null): void {
  const columns = TABLES_BY_NAME.get(table)?.primaryKey;
  if (!columns) return;
  const values = columns.map((c) => pk[c]);
  let keys = scope.rows.get(table);
  if (!keys) scope.rows.set(table, (keys = new Set()));
  keys.add(keyText(values));
  if (table === "cluster_egress_ips" && typeof values[0] === "string" && !scope.grantsBefore.has(values[0])) {
    scope.grantsBefore.set(values[0], egressIpGrant(db, values[0]));
  }
  if (table === "cluster_source_ranges") {
    for (const owner of [sourceRangeOwner(db, values[0]), row?.["cluster"]]) {
      if (typeof owner === "string" && !scope.rangesBefore.has(owner)) scope.rangesBefore.set(owner, new Set(listClusterSourceRanges(db, owner)));
    }
  }
}

/** Clusters that lost a source range they had before the message: their mappings and routes are re-checked. */
export function clustersThatLostRanges(db: Db, scope: InvariantScope): string[] {
  return [...scope.rangesBefore].filter(([cluster, before]) => {
    const now = new Set(listClusterSourceRanges(db, cluster));
    return [...before].some((cidr) => !now.has(cidr));
  }).map(([cluster]) => cluster);
}

/** Egress IPs now granted to another cluster, or to none: the mappings that use them are re-checked. */
export function regrantedAddresses(db: Db, scope: InvariantScope): string[] {
  return [...scope.grantsBefore].filter(([address, before]) => egressIpGrant(db, address) !== before).map(([address]) => address);
}
