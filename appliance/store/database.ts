import Database from "better-sqlite3";
import { dirname } from "node:path";
import { AppError, errorMessage } from "../errors.js";
import { HostFiles, type SystemFiles } from "../system/files.js";
import { ExecaRunner } from "../system/runner.js";

export type Db = Database.Database;

/**
 * WAL lets readers (API GETs, the reconciler's snapshots) run beside the single writer; synchronous=FULL
 * makes each commit durable before the API acknowledges it, as the brief promises.
 */
export function openDatabase(path: string, files: SystemFiles = new HostFiles(new ExecaRunner())): Db {
  if (path !== ":memory:") {
    files.makeDirectory(dirname(path), 0o700);
    makePrivate(path, files);
  }
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  // better-sqlite3 builds SQLite with a 16 MB page cache per connection, which a 100k-mapping write fills and
  // keeps; the pages it drops stay in the kernel's page cache, a read away.
  db.pragma(`cache_size = ${-4 * 1024}`);
  return db;
}

/**
 * The store as a reader beside the running daemon (egw show): read-only, so nothing here can change it, and SQLite's
 * WAL lets it read while the daemon writes.
 */
export function openReadOnly(path: string): Db {
  let db: Db;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new AppError("command-failed", `cannot open the store ${path} read-only: ${errorMessage(error)}`, { cause: error });
  }
  db.pragma("busy_timeout = 5000");
  return db;
}

/**
 * Token hashes, grants and the audit trail are nobody else's business: the database is created mode 0600, and
 * SQLite gives its -wal and -shm files the database file's mode. One left looser (by an older version or by
 * hand) is tightened, whatever umask the daemon was started with.
 */
function makePrivate(path: string, files: SystemFiles): void {
  if (!files.exists(path)) files.ensureFile(path, 0o600);
  for (const file of [path, `${path}-wal`, `${path}-shm`]) files.restrictMode(file, 0o600);
}

/**
 * SQLite's own consistency check (cheap: it does not verify every index against its table). A store that
 * fails it must not be served or replicated; the operator restores from a peer or a backup (runbook).
 */
export function checkIntegrity(db: Db, path: string): void {
  let problems: string[];
  try {
    problems = (db.pragma("quick_check") as { quick_check: string }[]).map((row) => row.quick_check).filter((text) => text !== "ok");
  } catch (error) {
    // Damage bad enough stops the check itself ("database disk image is malformed").
    problems = [errorMessage(error)];
  }
  if (problems.length > 0) {
    throw new AppError("database-corrupt", `the database ${path} failed its integrity check: ${problems.slice(0, 5).join("; ")}`,
      { extra: { problems: problems.slice(0, 20) } });
  }
}

/** Whether SQLite refused a statement for breaking the schema (a dangling reference, a duplicate key, a CHECK). */
export function isConstraintViolation(error: unknown): error is InstanceType<typeof Database.SqliteError> {
  return error instanceof Database.SqliteError && error.code.startsWith("SQLITE_CONSTRAINT");
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
