import type { Db } from "../database.js";

/**
 * Deletes in batches of `batch` rows, each its own short transaction, so the ingest writer (the one other
 * writer) never waits long: first the records that ended before the cutoff, then, while the rows take more
 * than `maxBytes`, the oldest records (ended ones first, open ones only if nothing else is left).
 *
 * Size counts the pages in use, not the file: SQLite keeps freed pages in the file and reuses them for new rows,
 * so once at its limit the file stops growing rather than shrinking and growing again.
 */
export function pruneTranslations(db: Db, options: { olderThanMs: number; maxBytes: number; batch: number }): number {
  const batch = Math.max(1, Math.floor(options.batch));
  // Rows that ended before the cutoff also started before it: the start index finds them, oldest first.
  const byAge = db.prepare(`DELETE FROM translations WHERE id IN (SELECT id FROM translations INDEXED BY translations_by_start
    WHERE start_ms < :cutoff AND end_ms < :cutoff ORDER BY start_ms LIMIT :batch)`);
  const oldestEnded = db.prepare(`DELETE FROM translations WHERE id IN (SELECT id FROM translations INDEXED BY translations_by_start
    ORDER BY start_ms LIMIT :batch)`);
  // The open table is small, and reaching it means the closed records are all gone: a scan is fine.
  const oldestOpen = db.prepare("DELETE FROM open_translations WHERE id IN (SELECT id FROM open_translations ORDER BY start_ms LIMIT :batch)");
  let deleted = 0;
  for (;;) {
    const changes = byAge.run({ cutoff: options.olderThanMs, batch }).changes;
    deleted += changes;
    if (changes < batch) break;
  }
  db.prepare("DELETE FROM gaps WHERE to_ms IS NOT NULL AND to_ms < ?").run(options.olderThanMs);
  while (usedBytes(db) > options.maxBytes) {
    let changes = oldestEnded.run({ batch }).changes;
    if (changes === 0) changes = oldestOpen.run({ batch }).changes;
    if (changes === 0) break;
    deleted += changes;
  }
  return deleted;
}

/** Bytes in the pages that hold rows and indexes (the file minus its free list). */
export function usedBytes(db: Db): number {
  const pageSize = Number(db.pragma("page_size", { simple: true }));
  const pages = Number(db.pragma("page_count", { simple: true }));
  const free = Number(db.pragma("freelist_count", { simple: true }));
  return (pages - free) * pageSize;
}
