import type { Mapping, Route } from "../model.js";
import { sql, type Db } from "../store/database.js";
import * as rows from "../store/rows.js";

/** Everything the data plane is built from, read at one revision in one read transaction. */
export interface DesiredState {
  revision: number;
  mappings: Mapping[];
  routes: Route[];
  egressIps: string[];
}

export function readDesiredState(db: Db): DesiredState {
  return db.transaction(() => ({
    revision: (sql(db, "SELECT value FROM revision WHERE id = 1").get() as { value: number }).value,
    mappings: rows.listMappings(db),
    routes: rows.listRoutes(db),
    egressIps: rows.listEgressIps(db).map((ip) => ip.address),
  }))();
}

const DATAPLANE_TABLES = ["mappings", "routes", "egress_ips"] as const;

/**
 * The newest revision that changed anything the data plane is built from (0 when the changelog no longer
 * holds any: older changes are already part of whatever was realized since). Three index lookups.
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
