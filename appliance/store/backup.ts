import Database from "better-sqlite3";
import { existsSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { AppError, errorMessage } from "../errors.js";
import type { SystemFiles } from "../system/files.js";
import { openReadOnly, type Db } from "./database.js";
import type { Migration } from "./migrate.js";
import { currentRevision } from "./revision.js";

/**
 * Backups of the store and their restore. A backup is SQLite's online backup of the live database, taken through a
 * read-only connection while the daemon keeps writing, into a temporary file beside its destination; the copy is
 * turned into a single self-contained file (rollback journal, no -wal), checked, flushed to disk and renamed into
 * place, so that a backup file either is whole and verified or does not exist. Nothing here writes to the live
 * database.
 */

/** What a backup holds, as read from the copy itself after it was checked. */
export interface StoreSummary {
  /** The newest migration applied to it. */
  schemaVersion: number;
  /** The store's revision at the moment of the copy: every write acknowledged up to it is in, none after. */
  revision: number;
  clusters: number;
  egressIps: number;
  mappings: number;
  routes: number;
  /** Cluster tokens not revoked. */
  tokens: number;
  bytes: number;
}

/** The live database and the files SQLite keeps beside it: none of them is ever a destination. */
export function databaseFiles(databasePath: string): string[] {
  return [databasePath, `${databasePath}-wal`, `${databasePath}-shm`, `${databasePath}-journal`];
}

/**
 * Copies the database at `databasePath` to `destination` (mode 0600), consistent as of one moment, while the daemon
 * may be writing. An existing `destination` is replaced only once the new copy is complete and verified.
 */
export async function backupStore(databasePath: string, destination: string, files: SystemFiles): Promise<StoreSummary> {
  const target = resolve(destination);
  if (isLiveFile(databasePath, target)) {
    throw new AppError("conflict", `${target} is the live database or one of its files; a backup never writes there`);
  }
  if (!existsSync(databasePath)) throw new AppError("not-found", `there is no database at ${databasePath}: nothing to back up`);
  const source = openReadOnly(databasePath);
  const temporary = files.makeTempDirectory(dirname(target), ".egw-backup-");
  try {
    const copy = join(temporary, basename(target));
    // SQLite keeps the mode of a file that exists: the copy is private from its first byte.
    files.ensureFile(copy, 0o600);
    // After its first, empty step the backup copies every remaining page in one step, under one read transaction of
    // the source: the copy is the database as of that transaction, and with WAL the daemon's writes go on meanwhile.
    // (In steps of a few pages, each write of the daemon between two steps would restart the copy.)
    await source.backup(copy, { progress: () => 0x7fffffff });
    const summary = verifyCopy(copy);
    files.sync(copy);
    files.move(copy, target);
    files.sync(dirname(target));
    return summary;
  } finally {
    source.close();
    files.removeTree(temporary);
  }
}

/**
 * Opens a copy (never the live database), makes it one self-contained file (journal_mode DELETE: a backup taken
 * from a WAL database says WAL in its header), runs SQLite's full integrity check and a foreign key check, and
 * reads what it holds. Throws `database-corrupt` when the copy fails a check or holds no egw store.
 */
export function verifyCopy(path: string): StoreSummary {
  let db: Db;
  try {
    db = new Database(path, { fileMustExist: true });
  } catch (error) {
    throw new AppError("database-corrupt", `cannot open ${path} as an SQLite database: ${errorMessage(error)}`, { cause: error });
  }
  try {
    let problems: string[];
    try {
      db.pragma("journal_mode = DELETE");
      problems = (db.pragma("integrity_check") as { integrity_check: string }[])
        .map((row) => row.integrity_check).filter((text) => text !== "ok");
      if (problems.length === 0) {
        problems = (db.pragma("foreign_key_check") as { table: string; rowid: number; parent: string }[])
          .map((row) => `row ${row.rowid} of ${row.table} refers to a missing ${row.parent}`);
      }
    } catch (error) {
      // Damage bad enough stops the check itself ("file is not a database", "database disk image is malformed").
      problems = [errorMessage(error)];
    }
    if (problems.length > 0) {
      throw new AppError("database-corrupt", `${path} failed its integrity check: ${problems.slice(0, 5).join("; ")}`,
        { extra: { problems: problems.slice(0, 20) } });
    }
    let summary: Omit<StoreSummary, "bytes">;
    try {
      summary = summarize(db, path);
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new AppError("database-corrupt", `${path} is not an egw store: ${errorMessage(error)}`, { cause: error });
    }
    return { ...summary, bytes: statSync(path).size };
  } finally {
    db.close();
  }
}

function summarize(db: Db, path: string): Omit<StoreSummary, "bytes"> {
  const migrations = appliedMigrations(db, path);
  const count = (table: string, where = "") => (db.prepare(`SELECT count(*) AS n FROM ${table} ${where}`).get() as { n: number }).n;
  return {
    schemaVersion: migrations.at(-1)?.version ?? 0,
    revision: currentRevision(db),
    clusters: count("clusters"),
    egressIps: count("egress_ips"),
    mappings: count("mappings"),
    routes: count("routes"),
    tokens: count("tokens", "WHERE revoked_at IS NULL"),
  };
}

function appliedMigrations(db: Db, path: string): Pick<Migration, "version" | "name">[] {
  try {
    return db.prepare("SELECT version, name FROM schema_migrations ORDER BY version").all() as Pick<Migration, "version" | "name">[];
  } catch (error) {
    throw new AppError("database-corrupt", `${path} holds no egw store (no schema_migrations table): ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * Whether this release can start on the store in `path` (a checked copy): its migrations are a prefix of this
 * release's, so the daemon migrates it forward at start. One written by a newer release is refused
 * (`database-too-new`), one whose migrations differ from ours is not this appliance's store (`database-corrupt`).
 */
export function checkRestorable(path: string, migrations: readonly Migration[]): void {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const applied = appliedMigrations(db, path);
    if (applied.length === 0) throw new AppError("database-corrupt", `${path} holds no egw store (no migration applied)`);
    const latest = migrations.at(-1)?.version ?? 0;
    const newest = applied.at(-1)?.version ?? 0;
    if (newest > latest) {
      throw new AppError("database-too-new",
        `${path} has database schema version ${newest}, newer than this version of egw knows (${latest}); restore it with the release that wrote it, or a newer one`);
    }
    for (const [index, migration] of applied.entries()) {
      const ours = migrations[index];
      if (!ours || ours.version !== migration.version || ours.name !== migration.name) {
        throw new AppError("database-corrupt",
          `${path} is not an egw store this release knows: its migration ${migration.version} is ${JSON.stringify(migration.name)}, ours is ${ours ? `${ours.version} ${JSON.stringify(ours.name)}` : "missing"}`);
      }
    }
  } finally {
    db.close();
  }
}

/** A verified copy of a backup beside the database, ready to take its place. */
export interface StagedRestore {
  /** The copy: owner and mode may still be set on it before commit(). */
  readonly path: string;
  readonly summary: StoreSummary;
  /** Renames the copy over `databasePath` in one step and makes the rename durable. */
  commit(): void;
  /** Removes what staging made (after commit, only the emptied temporary directory). */
  discard(): void;
}

/**
 * Copies the backup `file` into a temporary directory beside `databasePath` (the operator's file is only read),
 * checks the copy and that this release can migrate it. Nothing is in place until commit().
 */
export function stageRestore(file: string, databasePath: string, files: SystemFiles, migrations: readonly Migration[]): StagedRestore {
  if (!existsSync(file)) throw new AppError("not-found", `there is no backup file ${file}`);
  if (isLiveFile(databasePath, resolve(file))) throw new AppError("conflict", `${file} is the live database itself, not a backup`);
  const temporary = files.makeTempDirectory(dirname(databasePath), ".egw-restore-");
  try {
    const copy = join(temporary, basename(databasePath));
    files.copyFile(file, copy, 0o600);
    const summary = verifyCopy(copy);
    checkRestorable(copy, migrations);
    files.sync(copy);
    return {
      path: copy,
      summary,
      commit: () => {
        files.move(copy, databasePath);
        files.sync(dirname(databasePath));
      },
      discard: () => files.removeTree(temporary),
    };
  } catch (error) {
    files.removeTree(temporary);
    throw error;
  }
}

/** Whether `path` is the live database or a file SQLite keeps beside it, also through a symbolic link. */
function isLiveFile(databasePath: string, path: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      // Not there (yet): its directory may still be a link to the database's.
      try {
        return join(realpathSync(dirname(p)), basename(p));
      } catch {
        return resolve(p);
      }
    }
  };
  const target = real(path);
  return databaseFiles(resolve(databasePath)).some((live) => real(live) === target);
}
