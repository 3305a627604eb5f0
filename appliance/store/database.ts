import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export type Db = Database.Database;

/**
 * WAL lets readers (API GETs, the reconciler's snapshots) run beside the single writer; synchronous=FULL
 * makes each commit durable before the API acknowledges it, as the brief promises.
 */
export function openDatabase(path: string): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  return db;
}

const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/**
 * Prepared once per database and SQL text: preparing costs more than running a small query, and the
 * API's read path runs the same few statements thousands of times a second.
 */
export function sql(db: Db, text: string): Database.Statement {
  let cache = statements.get(db);
  if (!cache) {
    cache = new Map();
    statements.set(db, cache);
  }
  let statement = cache.get(text);
  if (!statement) {
    statement = db.prepare(text);
    cache.set(text, statement);
  }
  return statement;
}
