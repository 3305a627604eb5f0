import type { Mapping, Route } from "../model.js";
import { sql, type Db } from "../store/database.js";
import * as rows from "../store/rows.js";

/** Everything the data plane is built from, read at one revision in one read transaction. */
export interface DesiredState {
  revision: number;
  mappings: Mapping[];
  routes: Route[];
  egressIps: string[];
  /** Every cluster's source ranges: the addresses source binding guards ("claimed" ranges). */
  sourceRanges: { cluster: string; cidr: string }[];
}

export function readDesiredState(db: Db): DesiredState {
  return db.transaction(() => ({
    revision: (sql(db, "SELECT value FROM revision WHERE id = 1").get() as { value: number }).value,
    mappings: rows.listMappings(db),
    routes: rows.listRoutes(db),
    egressIps: rows.listEgressIps(db).map((ip) => ip.address),
    sourceRanges: sql(db, "SELECT cluster, cidr FROM cluster_source_ranges ORDER BY cluster, family, range_start").all() as { cluster: string; cidr: string }[],
  }))();
}

const DATAPLANE_TABLES = ["mappings", "routes", "egress_ips", "cluster_source_ranges"] as const;

/**
 * The newest revision that changed anything the data plane is built from (0 when the changelog no longer
 * holds any: older changes are already part of whatever was realized since). One index lookup per table.
 */
export function dataplaneRevision(db: Db): number {
  let newest = 0;
  for (const table of DATAPLANE_TABLES) {
    const row = sql(db, "SELECT max(revision) AS revision FROM changelog WHERE tbl = ?").get(table) as { revision: number | null };
    newest = Math.max(newest, row.revision ?? 0);
  }
  return newest;
}

export function storeRevision(db: Db): number {
  return (sql(db, "SELECT value FROM revision WHERE id = 1").get() as { value: number }).value;
}
