import { AppError } from "../errors.js";
import { sql, type Db } from "../store/database.js";
import { REPLICATED_TABLES, TABLES_BY_NAME, type TableSpec } from "../store/replicated-tables.js";

export interface ChangeEntry {
  tbl: string;
  op: "upsert" | "delete";
  pk: Record<string, unknown>;
  row: Record<string, unknown> | null;
}

export interface RevisionChanges {
  revision: number;
  epoch: number;
  entries: ChangeEntry[];
}

/** Where a gateway's history stands: its newest revision and the epoch that revision was written in. */
export interface HistoryPosition {
  revision: number;
  revisionEpoch: number;
}

export interface Snapshot {
  revision: number;
  revisionEpoch: number;
  tables: Record<string, Record<string, unknown>[]>;
}

export function position(db: Db): HistoryPosition {
  const revision = (sql(db, "SELECT value FROM revision WHERE id = 1").get() as { value: number }).value;
  return { revision, revisionEpoch: epochOfRevision(db, revision) ?? 0 };
}

export function epochOfRevision(db: Db, revision: number): number | undefined {
  return (sql(db, "SELECT epoch FROM revision_epochs WHERE revision = ?").get(revision) as { epoch: number } | undefined)?.epoch;
}

export function replicationState(db: Db): { epoch: number; leader: string | null } {
  return sql(db, "SELECT epoch, leader FROM replication_state WHERE id = 1").get() as { epoch: number; leader: string | null };
}

export function setReplicationState(db: Db, epoch: number, leader: string | null): void {
  sql(db, "UPDATE replication_state SET epoch = ?, leader = ? WHERE id = 1").run(epoch, leader);
}

/**
 * The row changes of revisions after `from` up to `to`, or undefined when this gateway cannot produce them
 * all (a revision made no changes it recorded, e.g. one restored from a snapshot).
 */
export function changesSince(db: Db, from: number, to: number): RevisionChanges[] | undefined {
  const epochs = sql(db, "SELECT revision, epoch FROM revision_epochs WHERE revision > ? AND revision <= ? ORDER BY revision")
    .all(from, to) as { revision: number; epoch: number }[];
  if (epochs.length !== to - from) return undefined;
  const rows = sql(db, "SELECT revision, tbl, op, pk, row FROM changelog WHERE revision > ? AND revision <= ? ORDER BY seq")
    .all(from, to) as { revision: number; tbl: string; op: "upsert" | "delete"; pk: string; row: string | null }[];
  const byRevision = new Map<number, ChangeEntry[]>(epochs.map((e) => [e.revision, []]));
  for (const row of rows) {
    byRevision.get(row.revision)?.push({ tbl: row.tbl, op: row.op, pk: JSON.parse(row.pk) as Record<string, unknown>, row: row.row === null ? null : JSON.parse(row.row) as Record<string, unknown> });
  }
  return epochs.map((e) => ({ revision: e.revision, epoch: e.epoch, entries: byRevision.get(e.revision) ?? [] }));
}

function decode(spec: TableSpec, column: string, value: unknown): unknown {
  return spec.blobs.includes(column) && typeof value === "string" ? Buffer.from(value, "hex") : value;
}

/**
 * Replays revisions in the leader's order, inside the caller's transaction. Upserts update in place
 * (never REPLACE, which would delete the row and cascade to its children). `observe` sees each entry
 * just before it is applied, while the row it replaces can still be read.
 */
export function applyChanges(db: Db, revisions: RevisionChanges[], observe?: (entry: ChangeEntry) => void): void {
  for (const revision of revisions) {
    sql(db, "UPDATE revision SET value = ? WHERE id = 1").run(revision.revision);
    for (const entry of revision.entries) {
      const spec = TABLES_BY_NAME.get(entry.tbl);
      if (!spec) throw new AppError("replication-refused", `replication entry for unknown table ${entry.tbl}`, { extra: { rule: "message-tables" } });
      observe?.(entry);
      const where = spec.primaryKey.map((c) => `${c} = ?`).join(" AND ");
      const keyValues = spec.primaryKey.map((c) => decode(spec, c, entry.pk[c]));
      if (entry.op === "delete") {
        sql(db, `DELETE FROM ${spec.name} WHERE ${where}`).run(...keyValues);
        continue;
      }
      const row = entry.row ?? {};
      const values = spec.columns.map((c) => decode(spec, c, row[c]));
      const updates = spec.columns.filter((c) => !spec.primaryKey.includes(c)).map((c) => `${c} = excluded.${c}`);
      sql(db, `INSERT INTO ${spec.name} (${spec.columns.join(", ")}) VALUES (${spec.columns.map(() => "?").join(", ")})
        ON CONFLICT (${spec.primaryKey.join(", ")}) DO ${updates.length > 0 ? `UPDATE SET ${updates.join(", ")}` : "NOTHING"}`).run(...values);
    }
    sql(db, "INSERT OR REPLACE INTO revision_epochs (revision, epoch) VALUES (?, ?)").run(revision.revision, revision.epoch);
  }
}

export function exportSnapshot(db: Db): Snapshot {
  return db.transaction(() => {
    const tables: Record<string, Record<string, unknown>[]> = {};
    for (const spec of REPLICATED_TABLES) {
      const select = spec.columns.map((c) => (spec.blobs.includes(c) ? `hex(${c}) AS ${c}` : c)).join(", ");
      tables[spec.name] = sql(db, `SELECT ${select} FROM ${spec.name}`).all() as Record<string, unknown>[];
    }
    return { ...position(db), tables };
  })();
}

/** Replaces every replicated table with the snapshot, inside the caller's transaction. */
export function importSnapshot(db: Db, snapshot: Snapshot): void {
  for (const spec of [...REPLICATED_TABLES].reverse()) sql(db, `DELETE FROM ${spec.name}`).run();
  for (const spec of REPLICATED_TABLES) {
    const insert = sql(db, `INSERT INTO ${spec.name} (${spec.columns.join(", ")}) VALUES (${spec.columns.map(() => "?").join(", ")})`);
    for (const row of snapshot.tables[spec.name] ?? []) insert.run(...spec.columns.map((c) => decode(spec, c, row[c])));
  }
  // History before the snapshot is unknown here: only the snapshot's own position is kept.
  sql(db, "DELETE FROM changelog").run();
  sql(db, "DELETE FROM revision_epochs").run();
  sql(db, "UPDATE revision SET value = ? WHERE id = 1").run(snapshot.revision);
  sql(db, "INSERT INTO revision_epochs (revision, epoch) VALUES (?, ?)").run(snapshot.revision, snapshot.revisionEpoch);
}
