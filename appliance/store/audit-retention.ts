import type { Logger } from "pino";
import { errorMessage } from "../errors.js";
import { sql, type Db } from "./database.js";

export interface AuditRetentionOptions {
  /** Records older than this many days go. */
  retentionDays: number;
  /** Beyond this many records, the oldest go. */
  maxRecords: number;
  /** Most rows one call deletes, so that one pass never holds the event loop (or the write lock) for long. */
  batchSize?: number;
}

const DEFAULT_BATCH = 10_000;
const DAY_MS = 86_400_000;

/**
 * Deletes the oldest audit records beyond either limit, at most one batch per call, and returns how many
 * it removed (a full batch means there may be more). Records are taken oldest first by id, which follows
 * time: ids are assigned at commit, on the leader, and replicated as they are.
 * Deletions are local to this gateway: audit_log's deletes have no changelog trigger (`deletesStayLocal`).
 */
export function pruneAudit(db: Db, options: AuditRetentionOptions, now: Date): number {
  const batch = options.batchSize ?? DEFAULT_BATCH;
  const cutoff = new Date(now.getTime() - options.retentionDays * DAY_MS).toISOString();
  return db.transaction(() => {
    // Only the oldest batch is looked at, so the cost is bounded even when nothing is old enough.
    const expired = sql(db, `DELETE FROM audit_log WHERE id IN (
      SELECT id FROM (SELECT id, at FROM audit_log ORDER BY id LIMIT ?) WHERE at < ?)`).run(batch, cutoff).changes;
    const total = (sql(db, "SELECT count(*) AS n FROM audit_log").get() as { n: number }).n;
    const excess = Math.min(Math.max(0, total - options.maxRecords), batch - expired);
    const trimmed = excess > 0
      ? sql(db, "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id LIMIT ?)").run(excess).changes
      : 0;
    return expired + trimmed;
  }).immediate();
}

/**
 * Prunes now and then every `intervalMs`; while a pass removes a full batch, the next follows after a
 * short pause instead, so a large backlog drains without starving requests. The timers are unref'd: they
 * never keep the process alive.
 */
export function startAuditRetention(db: Db, options: AuditRetentionOptions, log: Logger, intervalMs = 3_600_000): { stop(): void } {
  const batch = options.batchSize ?? DEFAULT_BATCH;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(run, delay);
    timer.unref();
  };
  const run = () => {
    let removed = 0;
    try {
      removed = pruneAudit(db, options, new Date());
      if (removed > 0) log.info({ removed }, "pruned old audit records");
    } catch (error) {
      log.warn({ err: error }, `audit retention failed: ${errorMessage(error)}`);
    }
    schedule(removed >= batch ? 50 : intervalMs);
  };
  schedule(0);
  return {
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
