import { EventEmitter } from "node:events";
import { pruneHistory, stampLocalRevision } from "./changelog.js";
import { sql, type Db } from "./database.js";
import { bumpRevision, currentRevision } from "./revision.js";

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

export interface WriteOptions {
  /**
   * Stamp the revision as written off the leader's history (a negative epoch), whoever this gateway last
   * followed: an admin's write made while no leader is reachable must never pass for a leader's history.
   */
  offLeader?: boolean;
  /** The API request that made the change (X-Request-Id), recorded with its audit records on this gateway. */
  requestId?: string;
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
export class Store extends EventEmitter<{ committed: [revision: number]; writeResult: [error: unknown] }> {
  /**
   * `identity` is this gateway's name in a group: a write committed while another gateway leads (a race
   * with a step-down) is stamped with a negative epoch of its own, so it can never pass for the leader's
   * history and the leader re-seeds this gateway instead of believing it in sync.
   */
  private readonly queue: {
    actor: Actor;
    change: (tx: WriteContext) => unknown;
    precondition: (() => void) | undefined;
    options: WriteOptions;
    resolve: (outcome: WriteOutcome<unknown>) => void;
    reject: (error: unknown) => void;
  }[] = [];

  constructor(readonly db: Db, private readonly identity?: string) {
    super();
  }

  revision(): number {
    return currentRevision(this.db);
  }

  /**
   * `precondition` runs first inside the transaction: a check that must hold at commit time (in a gateway
   * group, that this gateway still leads), immune to anything that ran while the request was in flight.
   */
  write<T>(actor: Actor, change: (tx: WriteContext) => T, precondition?: () => void): WriteOutcome<T> {
    const outcome = this.writeOne(actor, change, precondition);
    if (outcome.changed) this.emit("committed", outcome.revision);
    return outcome;
  }

  /**
   * Group commit: writes that arrive in the same turn of the event loop share one SQLite transaction, and
   * so one fsync, each in its own savepoint with its own revision and audit record; one that fails rolls
   * back alone. Every promise settles only after the commit, so an acknowledged write is durable.
   */
  writeBatched<T>(actor: Actor, change: (tx: WriteContext) => T, precondition?: () => void, options: WriteOptions = {}): Promise<WriteOutcome<T>> {
    return new Promise((resolve, reject) => {
      this.queue.push({ actor, change, precondition, options, resolve: resolve as (outcome: WriteOutcome<unknown>) => void, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue.splice(0);
    const results: ({ ok: true; outcome: WriteOutcome<unknown> } | { ok: false; error: unknown })[] = [];
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          try {
            results.push({ ok: true, outcome: this.writeOne(item.actor, item.change, item.precondition, item.options) });
          } catch (error) {
            results.push({ ok: false, error });
          }
        }
      }).immediate();
    } catch (error) {
      // The whole transaction failed (a full disk, an I/O error): every write of the batch is refused.
      this.emit("writeResult", error);
      for (const item of batch) item.reject(error);
      return;
    }
    // A write refused by the disk (not by a rule) matters to readiness even when its neighbours committed.
    const storageFailure = results.find((r) => !r.ok && /^SQLITE_/.test(String((r.error as { code?: unknown }).code)));
    this.emit("writeResult", storageFailure && !storageFailure.ok ? storageFailure.error : undefined);
    let newest = 0;
    batch.forEach((item, i) => {
      const result = results[i];
      if (result?.ok) {
        if (result.outcome.changed) newest = result.outcome.revision;
        item.resolve(result.outcome);
      } else item.reject(result?.error);
    });
    if (newest > 0) this.emit("committed", newest);
  }

  /** One write in a transaction of its own, or in a savepoint when a batch's transaction is open. */
  private writeOne<T>(actor: Actor, change: (tx: WriteContext) => T, precondition?: () => void, options: WriteOptions = {}): WriteOutcome<T> {
    const entries: AuditEntry[] = [];
    const now = new Date().toISOString();
    // The revision is bumped first so that every row change (and the changelog triggers that capture them
    // for replication) already carries the revision of this write. A write that changes nothing rolls back.
    const run = this.db.transaction(() => {
      precondition?.();
      const revision = bumpRevision(this.db);
      const result = change({ db: this.db, now, audit: (entry) => entries.push(entry) });
      if (entries.length === 0) throw new NothingChanged(result);
      stampLocalRevision(this.db, revision, this.identity, options.offLeader === true);
      const insert = sql(this.db, 
        "INSERT INTO audit_log (revision, at, actor, action, resource, before, after, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      for (const entry of entries) {
        insert.run(revision, now, actor, entry.action, entry.resource, json(entry.before), json(entry.after), options.requestId ?? null);
      }
      if (revision % CHANGELOG_PRUNE_EVERY === 0) {
        // A follower further behind than this gets a snapshot instead of the missing changes.
        pruneHistory(this.db, revision - CHANGELOG_KEEP_REVISIONS);
      }
      return { result, revision, changed: true };
    });
    let outcome: WriteOutcome<T>;
    try {
      // IMMEDIATE takes the write lock up front, so checks made inside the transaction stay true until commit.
      outcome = run.immediate();
    } catch (error) {
      if (!(error instanceof NothingChanged)) throw error;
      outcome = { result: error.result as T, revision: this.revision(), changed: false };
    }
    return outcome;
  }

  /** Runs `apply` in one write transaction and announces `revision` afterwards (replication replays). */
  applyExternal(revision: number, apply: () => void): void {
    this.db.transaction(apply).immediate();
    this.emit("committed", revision);
  }
}

const CHANGELOG_KEEP_REVISIONS = 20_000;
const CHANGELOG_PRUNE_EVERY = 1_000;

class NothingChanged {
  constructor(readonly result: unknown) {}
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
