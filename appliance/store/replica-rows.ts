import { sql, type Db } from "./database.js";
import type { TableSpec } from "./replicated-tables.js";

/**
 * Rows of a replicated table read and written by its spec, as replication moves them between gateways:
 * values in the spec's column order, BLOBs as hex when read. Inside the caller's transaction.
 */

const placeholders = (spec: TableSpec) => spec.columns.map(() => "?").join(", ");
const keyMatch = (spec: TableSpec) => spec.primaryKey.map((c) => `${c} = ?`).join(" AND ");
const hexSelect = (spec: TableSpec, alias: boolean) =>
  spec.columns.map((c) => (spec.blobs.includes(c) ? `hex(${c})${alias ? ` AS ${c}` : ""}` : c)).join(", ");

/** Inserts or updates in place: never REPLACE, which would delete the row and cascade to its children. */
export function upsertRow(db: Db, spec: TableSpec, values: unknown[]): void {
  const updates = spec.columns.filter((c) => !spec.primaryKey.includes(c)).map((c) => `${c} = excluded.${c}`);
  sql(db, `INSERT INTO ${spec.name} (${spec.columns.join(", ")}) VALUES (${placeholders(spec)})
        ON CONFLICT (${spec.primaryKey.join(", ")}) DO ${updates.length > 0 ? `UPDATE SET ${updates.join(", ")}` : "NOTHING"}`).run(...values);
}

export function insertRow(db: Db, spec: TableSpec, values: unknown[]): void {
  sql(db, `INSERT INTO ${spec.name} (${spec.columns.join(", ")}) VALUES (${placeholders(spec)})`).run(...values);
}

/** `key` in the spec's primary-key order. */
export function deleteRow(db: Db, spec: TableSpec, key: unknown[]): void {
  sql(db, `DELETE FROM ${spec.name} WHERE ${keyMatch(spec)}`).run(...key);
}

export function deleteAllRows(db: Db, spec: TableSpec): void {
  sql(db, `DELETE FROM ${spec.name}`).run();
}

/** Every row as an object of the spec's columns, BLOBs as hex (a snapshot's form). */
export function exportRows(db: Db, spec: TableSpec): Record<string, unknown>[] {
  return sql(db, `SELECT ${hexSelect(spec, true)} FROM ${spec.name}`).all() as Record<string, unknown>[];
}

/** Every row as the array of its columns in the spec's order, BLOBs as hex, in primary-key order (a digest's input). */
export function orderedRowValues(db: Db, spec: TableSpec): IterableIterator<unknown[]> {
  return sql(db, `SELECT ${hexSelect(spec, false)} FROM ${spec.name} ORDER BY ${spec.primaryKey.join(", ")} /* digest */`).raw(true).iterate() as IterableIterator<unknown[]>;
}
