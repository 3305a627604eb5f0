import { sql, type Db } from "./database.js";

/**
 * The store's revision: one counter, bumped by every write that changes something (Store.write) and set
 * by replication when it replays or imports the leader's history. The changelog triggers read it in SQL
 * (changelog-triggers.ts); everything else reads it here.
 */
export function currentRevision(db: Db): number {
  return (sql(db, "SELECT value FROM revision WHERE id = 1").get() as { value: number }).value;
}

/** The next revision, inside the caller's write transaction. */
export function bumpRevision(db: Db): number {
  sql(db, "UPDATE revision SET value = value + 1 WHERE id = 1").run();
  return currentRevision(db);
}

/** Moves the revision to the leader's, inside the caller's transaction (replays and snapshots). */
export function setRevision(db: Db, revision: number): void {
  sql(db, "UPDATE revision SET value = ? WHERE id = 1").run(revision);
}
