import type { Db } from "./database.js";
import { REPLICATED_TABLES, type TableSpec } from "./replicated-tables.js";

export interface ChangelogTrigger {
  name: string;
  table: string;
  sql: string;
}

const EVENTS = ["insert", "update", "delete"] as const;

/** Every changelog trigger's name ends so; any other trigger in the schema is not the changelog's business. */
const NAME_PATTERN = /_changelog_(insert|update|delete)$/;

/**
 * The changelog triggers, generated from REPLICATED_TABLES: for each replicated table one AFTER INSERT and one
 * AFTER UPDATE trigger that log the row as an upsert, and (unless its deletes stay local) one AFTER DELETE
 * trigger that logs its primary key. Each entry carries the revision of the write that made it; BLOB columns
 * travel as hex. The text is exactly what migrations 002 and 004 used to write by hand, so databases created
 * by them hold these very triggers and need no change.
 */
export function changelogTriggers(tables: readonly TableSpec[] = REPLICATED_TABLES): ChangelogTrigger[] {
  return tables.flatMap((spec) => EVENTS
    .filter((event) => event !== "delete" || !spec.deletesStayLocal)
    .map((event) => ({ name: `${spec.name}_changelog_${event}`, table: spec.name, sql: triggerSql(spec, event) })));
}

function triggerSql(spec: TableSpec, event: (typeof EVENTS)[number]): string {
  const ref = event === "delete" ? "OLD" : "NEW";
  const value = (column: string) => (spec.blobs.includes(column) ? `hex(${ref}.${column})` : `${ref}.${column}`);
  const object = (columns: readonly string[]) => `json_object(${columns.map((c) => `'${c}', ${value(c)}`).join(", ")})`;
  const op = event === "delete" ? "delete" : "upsert";
  const row = event === "delete" ? "NULL" : object(spec.columns);
  // The revision is read in SQL here: Store.write bumps it before the change, so every row carries its write's revision.
  return `CREATE TRIGGER ${spec.name}_changelog_${event} AFTER ${event.toUpperCase()} ON ${spec.name} BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), '${spec.name}', '${op}',
    ${object(spec.primaryKey)}, ${row});
END`;
}

/**
 * Makes the database's changelog triggers exactly the generated ones: creates those missing, recreates those
 * whose text differs (a table that gained a column), drops those no longer generated. Run by the migrator,
 * inside its transaction, after the SQL migrations; on a database already in shape it changes nothing.
 */
export function installChangelogTriggers(db: Db): void {
  const installed = new Map((db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all() as { name: string; sql: string }[])
    .filter((trigger) => NAME_PATTERN.test(trigger.name))
    .map((trigger) => [trigger.name, trigger.sql]));
  // A table a later migration adds gets its triggers when that migration has run (this runs after every migration).
  const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name));
  const wanted = changelogTriggers().filter((t) => tables.has(t.table));
  const dropped = [...installed.keys()].filter((name) => wanted.find((t) => t.name === name)?.sql !== installed.get(name));
  const created = wanted.filter((t) => installed.get(t.name) !== t.sql).map((t) => t.name);
  for (const name of dropped) db.exec(`DROP TRIGGER ${name}`);
  for (const trigger of wanted) if (created.includes(trigger.name)) db.exec(`${trigger.sql};`);
}
