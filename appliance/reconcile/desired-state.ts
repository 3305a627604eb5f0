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
