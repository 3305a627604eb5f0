import { TABLES_BY_NAME } from "../../replication/tables.js";
import { sql, type Db } from "../../store/database.js";

/**
 * What a store check looks at. A snapshot is checked in full; a batch of changes only where it could have
 * broken a rule: the rows it wrote, plus the rows whose validity depends on them (a cluster's source
 * ranges changing re-checks that cluster's mappings and routes; an egress IP's grant changing re-checks the
 * mappings that use it). That is what the API's own write would have checked, so a small change stays
 * cheap in a store of 100k mappings.
 */
export interface InvariantScope {
  full: boolean;
  /** Per table, the primary keys (JSON arrays in key order) of the rows written. */
  rows: Map<string, Set<string>>;
  /** Clusters whose source ranges changed. */
  clusters: Set<string>;
  /** Egress IPs whose grant changed. */
  grantedAddresses: Set<string>;
}

export function fullScope(): InvariantScope {
  return { full: true, rows: new Map(), clusters: new Set(), grantedAddresses: new Set() };
}

export function emptyScope(): InvariantScope {
  return { full: false, rows: new Map(), clusters: new Set(), grantedAddresses: new Set() };
}

export function keyText(values: readonly unknown[]): string {
  return JSON.stringify(values);
}

/**
 * Adds one replicated row change to the scope. Called before the change is applied, so that the row's
 * old owner (the cluster a deleted source range belonged to) can still be read.
 */
export function observeChange(db: Db, scope: InvariantScope, table: string, pk: Record<string, unknown>, row: Record<string, unknown> | null): void {
  const columns = TABLES_BY_NAME.get(table)?.primaryKey;
  if (!columns) return;
  const values = columns.map((c) => pk[c]);
  let keys = scope.rows.get(table);
  if (!keys) scope.rows.set(table, (keys = new Set()));
  keys.add(keyText(values));
  if (table === "cluster_egress_ips" && typeof values[0] === "string") scope.grantedAddresses.add(values[0]);
  if (table === "cluster_source_ranges") {
    const before = sql(db, "SELECT cluster FROM cluster_source_ranges WHERE cidr = ?").get(values[0]) as { cluster: unknown } | undefined;
    for (const owner of [before?.cluster, row?.["cluster"]]) if (typeof owner === "string") scope.clusters.add(owner);
  }
}
