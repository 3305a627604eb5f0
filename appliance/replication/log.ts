import { AppError } from "../errors.js";
import { position, recordRevisionEpoch, restartHistoryAt, type ChangeEntry, type RevisionChanges } from "../store/changelog.js";
import type { Db } from "../store/database.js";
import { deleteAllRows, deleteRow, exportRows, insertRow, upsertRow } from "../store/replica-rows.js";
import { REPLICATED_TABLES, TABLES_BY_NAME, type TableSpec } from "../store/replicated-tables.js";
import { setRevision } from "../store/revision.js";

/**
 * Replication's side of the store's history: replaying the leader's revisions and moving whole snapshots.
 * The history itself (changelog, revision epochs) and replication's state are the store's; they are
 * re-exported here because they are what replication speaks in.
 */
export { changesSince, epochOfRevision, noteHistoryRestarted, position, type ChangeEntry, type HistoryPosition, type RevisionChanges } from "../store/changelog.js";
export { replicationState, setReplicationState } from "../store/replication-state.js";

export interface Snapshot {
  revision: number;
  revisionEpoch: number;
  tables: Record<string, Record<string, unknown>[]>;
}

function decode(spec: TableSpec, column: string, value: unknown): unknown {
  return spec.blobs.includes(column) && typeof value === "string" ? Buffer.from(value, "hex") : value;
}

/**
 * Replays revisions in the leader's order, inside the caller's transaction. Upserts update in place.
 * `observe` sees each entry just before it is applied, while the row it replaces can still be read.
 */
export function applyChanges(db: Db, revisions: RevisionChanges[], observe?: (entry: ChangeEntry) => void): void {
  for (const revision of revisions) {
    setRevision(db, revision.revision);
    for (const entry of revision.entries) {
      const spec = TABLES_BY_NAME.get(entry.tbl);
      if (!spec) throw new AppError("replication-refused", `replication entry for unknown table ${entry.tbl}`, { extra: { rule: "message-tables" } });
      observe?.(entry);
      if (entry.op === "delete") {
        deleteRow(db, spec, spec.primaryKey.map((c) => decode(spec, c, entry.pk[c])));
        continue;
      }
      const row = entry.row ?? {};
      upsertRow(db, spec, spec.columns.map((c) => decode(spec, c, row[c])));
    }
    recordRevisionEpoch(db, revision.revision, revision.epoch);
  }
}

export function exportSnapshot(db: Db): Snapshot {
  return db.transaction(() => {
    const tables: Record<string, Record<string, unknown>[]> = {};
    for (const spec of REPLICATED_TABLES) {
      const rows = exportRows(db, spec);
      if (rows.length > 0 || spec.addedIn === undefined) tables[spec.name] = rows;
    }
    return { ...position(db), tables };
  })();
}

/** Replaces every replicated table with the snapshot, inside the caller's transaction. */
export function importSnapshot(db: Db, snapshot: Snapshot): void {
  for (const spec of [...REPLICATED_TABLES].reverse()) deleteAllRows(db, spec);
  for (const spec of REPLICATED_TABLES) {
    for (const row of snapshot.tables[spec.name] ?? []) insertRow(db, spec, spec.columns.map((c) => decode(spec, c, row[c])));
  }
  restartHistoryAt(db, snapshot);
}
