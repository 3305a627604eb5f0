import { EventEmitter } from "node:events";
import type { Db } from "./database.js";

/** Who made a change, as recorded in the audit log: `admin` or `cluster:<name>/token:<id>`. */
export type Actor = string;

export interface AuditEntry {
  action: "create" | "update" | "delete" | "replace" | "revoke";
  resource: string;
  before?: unknown;
  after?: unknown;
}

export interface WriteContext {
  db: Db;
  now: string;
  /** Records what changed; a write that records nothing changed nothing and does not bump the revision. */
  audit(entry: AuditEntry): void;
}

export interface WriteOutcome<T> {
  result: T;
  revision: number;
  changed: boolean;
}

/**
 * The store's one write path. Each write is one SQLite transaction that applies the change, bumps the
 * monotonic revision and appends the audit records together, so that no change exists without its
 * revision and its audit trail. Listeners learn of committed revisions after the commit.
 */
export class Store extends EventEmitter<{ committed: [revision: number] }> {
  constructor(readonly db: Db) {
    super();
  }

  revision(): number {
    return (this.db.prepare("SELECT value FROM revision WHERE id = 1").get() as { value: number }).value;
  }

  write<T>(actor: Actor, change: (tx: WriteContext) => T): WriteOutcome<T> {
    const entries: AuditEntry[] = [];
    const now = new Date().toISOString();
    const run = this.db.transaction(() => {
      const result = change({ db: this.db, now, audit: (entry) => entries.push(entry) });
      if (entries.length === 0) return { result, revision: this.revision(), changed: false };
      this.db.prepare("UPDATE revision SET value = value + 1 WHERE id = 1").run();
      const revision = this.revision();
      const insert = this.db.prepare(
        "INSERT INTO audit_log (revision, at, actor, action, resource, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)");
      for (const entry of entries) {
        insert.run(revision, now, actor, entry.action, entry.resource, json(entry.before), json(entry.after));
      }
      return { result, revision, changed: true };
    });
    // IMMEDIATE takes the write lock up front, so checks made inside the transaction stay true until commit.
    const outcome = run.immediate();
    if (outcome.changed) this.emit("committed", outcome.revision);
    return outcome;
  }
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
