import { sql, type Db } from "./database.js";
import { currentRevision, setRevision } from "./revision.js";

/**
 * The history this gateway holds, owned here and nowhere else: the row changes of each revision, which the
 * changelog triggers capture (changelog-triggers.ts), and the leadership epoch each revision was written in.
 * Replication ships it; the reconciler asks it what changed; Store.write stamps and prunes it.
 */

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

export function position(db: Db): HistoryPosition {
  const revision = currentRevision(db);
  return { revision, revisionEpoch: epochOfRevision(db, revision) ?? 0 };
}

export function epochOfRevision(db: Db, revision: number): number | undefined {
  return (sql(db, "SELECT epoch FROM revision_epochs WHERE revision = ?").get(revision) as { epoch: number } | undefined)?.epoch;
}

export function recordRevisionEpoch(db: Db, revision: number, epoch: number): void {
  sql(db, "INSERT OR REPLACE INTO revision_epochs (revision, epoch) VALUES (?, ?)").run(revision, epoch);
}

/**
 * Stamps a local write with the epoch of the leader it was written under: the current epoch when this gateway
 * is the leader it last followed (or knows none), otherwise, or when `offLeader`, the negated revision, which no
 * leader's history can hold.
 */
export function stampLocalRevision(db: Db, revision: number, identity: string | undefined, offLeader: boolean): void {
  sql(db, `INSERT OR REPLACE INTO revision_epochs (revision, epoch)
    SELECT ?, CASE WHEN ? = 0 AND (? IS NULL OR leader IS NULL OR leader = ?) THEN epoch ELSE -? END FROM replication_state WHERE id = 1`)
    .run(revision, offLeader ? 1 : 0, identity ?? null, identity ?? null, revision);
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

/**
 * Which rows changed after `from` up to `to`: each change's table and primary key, without its row (a policy's row and
 * its audit records can be megabytes, and the reconciler reads what it needs from the tables). At most `limit` + 1
 * entries, so that a caller with a limit learns it is exceeded without reading a 100k-row PUT. Undefined, like
 * changesSince, when this gateway cannot produce every revision of the range.
 */
export function changedKeysSince(db: Db, from: number, to: number, limit: number): { tbl: string; pk: Record<string, unknown> }[] | undefined {
  const epochs = (sql(db, "SELECT count(*) AS n FROM revision_epochs WHERE revision > ? AND revision <= ?").get(from, to) as { n: number }).n;
  if (epochs !== to - from) return undefined;
  return (sql(db, "SELECT tbl, pk FROM changelog WHERE revision > ? AND revision <= ? ORDER BY seq LIMIT ?").all(from, to, limit + 1) as { tbl: string; pk: string }[])
    .map((row) => ({ tbl: row.tbl, pk: JSON.parse(row.pk) as Record<string, unknown> }));
}

/**
 * The snapshots this process committed to a store: the revision of the last one and how many. Kept in memory:
 * whoever compares them (the reconciler) starts afresh with the process.
 */
const historyRestarts = new WeakMap<Db, { revision: number; count: number }>();

/** Called once a snapshot's transaction has committed (never for one rolled back, whose revision may come again). */
export function noteHistoryRestarted(db: Db, revision: number): void {
  historyRestarts.set(db, { revision, count: (historyRestarts.get(db)?.count ?? 0) + 1 });
}

/**
 * How many snapshots this process has committed to the store. A snapshot may replace everything at the very revision
 * the store already had (after a partition the leader's history wins, or a re-seed at the same position), so a
 * revision alone cannot tell the reconciler that anything moved.
 */
export function snapshotsCommitted(db: Db): number {
  return historyRestarts.get(db)?.count ?? 0;
}

/**
 * The newest revision that changed any of `tables` (the revision of the last snapshot this process took when that is
 * newer; 0 when the changelog no longer holds one: older changes
 * are part of whatever was realized since). One index lookup per table (changelog_by_table).
 */
export function newestChangeTo(db: Db, tables: readonly string[]): number {
  // After a snapshot the changelog is empty, yet anything may have changed up to the snapshot's revision: two
  // snapshots in a row must not both answer 0.
  let newest = historyRestarts.get(db)?.revision ?? 0;
  for (const table of tables) {
    const row = sql(db, "SELECT max(revision) AS revision FROM changelog WHERE tbl = ?").get(table) as { revision: number | null };
    newest = Math.max(newest, row.revision ?? 0);
  }
  return newest;
}

/**
 * How many row changes the changelog has ever captured. It moves with every change, even one made directly
 * in SQLite that does not bump the revision.
 */
export function changeSequence(db: Db): number {
  return (sql(db, "SELECT seq FROM sqlite_sequence WHERE name = 'changelog'").get() as { seq: number } | undefined)?.seq ?? 0;
}

/** Forgets the history up to `revision`: a follower further behind gets a snapshot instead. */
export function pruneHistory(db: Db, revision: number): void {
  sql(db, "DELETE FROM changelog WHERE revision <= ?").run(revision);
  sql(db, "DELETE FROM revision_epochs WHERE revision <= ?").run(revision);
}

/**
 * After a snapshot replaced every replicated row: the history before it is unknown here, so only the
 * snapshot's own position is kept (inside the caller's transaction, after the rows are in).
 */
export function restartHistoryAt(db: Db, at: HistoryPosition): void {
  sql(db, "DELETE FROM changelog").run();
  sql(db, "DELETE FROM revision_epochs").run();
  setRevision(db, at.revision);
  recordRevisionEpoch(db, at.revision, at.revisionEpoch);
}
