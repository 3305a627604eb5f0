import { sql, type Db } from "./database.js";
import { TABLES_BY_NAME } from "./replicated-tables.js";

/**
 * Rows exactly as SQLite stores them (every column, BLOBs as Buffers), for the store's rules
 * (appliance/service/invariants), which re-derive each row and compare. Results are read whole (all(), not
 * iterate()) where a rule runs queries of its own per row, which an open iterator would block.
 */
export type StoredRow = Record<string, unknown>;

export function allRows(db: Db, table: string): StoredRow[] {
  return sql(db, `SELECT * FROM ${table}`).all() as StoredRow[];
}

export function rowsOfCluster(db: Db, table: "mappings" | "routes", cluster: string): StoredRow[] {
  return sql(db, `SELECT * FROM ${table} WHERE cluster = ?`).all(cluster) as StoredRow[];
}

export function mappingsUsingEgressIp(db: Db, address: string): StoredRow[] {
  return sql(db, "SELECT * FROM mappings WHERE egress_ip = ?").all(address) as StoredRow[];
}

/** The row of a replicated table with this primary key (values in key order), if it exists. */
export function rowByKey(db: Db, table: string, key: readonly unknown[]): StoredRow | undefined {
  const pk = TABLES_BY_NAME.get(table)?.primaryKey ?? [];
  return sql(db, `SELECT * FROM ${table} WHERE ${pk.map((c) => `${c} = ?`).join(" AND ")}`).get(...key) as StoredRow | undefined;
}

export type RangeTable = "cluster_source_ranges" | "mappings" | "routes";

/** Every row of a range table by family and range start (one sweep finds any overlap). */
export function rowsInRangeOrder(db: Db, table: RangeTable): Iterable<StoredRow> {
  return sql(db, `SELECT * FROM ${table} ORDER BY family, range_start`).iterate() as Iterable<StoredRow>;
}

/**
 * The rows next to `row` in range order, itself excluded: the greatest start not after its start, and the
 * least start not before it. Two index lookups.
 */
export function rangeNeighbours(db: Db, table: RangeTable, row: StoredRow): { before?: StoredRow; after?: StoredRow } {
  const pk = TABLES_BY_NAME.get(table)?.primaryKey ?? [];
  const notSelf = `NOT (${pk.map((c) => `${c} = ?`).join(" AND ")})`;
  const self = pk.map((c) => row[c]);
  const before = sql(db, `SELECT * FROM ${table} WHERE family = ? AND range_start <= ? AND ${notSelf} ORDER BY range_start DESC LIMIT 1`)
    .get(row["family"], row["range_start"], ...self) as StoredRow | undefined;
  const after = sql(db, `SELECT * FROM ${table} WHERE family = ? AND range_start >= ? AND ${notSelf} ORDER BY range_start LIMIT 1`)
    .get(row["family"], row["range_start"], ...self) as StoredRow | undefined;
  return { ...(before ? { before } : {}), ...(after ? { after } : {}) };
}
