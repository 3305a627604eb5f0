import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../errors.js";
import { installChangelogTriggers } from "./changelog-triggers.js";
import type { Db } from "./database.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE_PATTERN = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

export function readMigrations(directory: string): Migration[] {
  const migrations = readdirSync(directory)
    .map((file) => ({ file, match: FILE_PATTERN.exec(file) }))
    .filter((entry): entry is { file: string; match: RegExpExecArray } => entry.match !== null)
    .map(({ file, match }) => ({
      version: Number(match[1]),
      name: match[2] as string,
      sql: readFileSync(join(directory, file), "utf8"),
    }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`migrations must be numbered 1, 2, 3… without gaps; found ${migration.version} at position ${index + 1}`);
    }
  });
  return migrations;
}

/**
 * Applies, in one transaction, every migration the database has not seen. Forward only: a database that
 * has migrations this code does not know was written by a newer version, and is refused untouched.
 *
 * The changelog triggers are not written in the SQL files: they follow from REPLICATED_TABLES, so the
 * migrator installs them last, in the same transaction, once the schema has the changelog (a migration that
 * adds a replicated column needs no trigger text of its own). A database whose triggers came from the old
 * hand-written migrations already holds the same text and is left as it is.
 */
export function migrate(db: Db, migrations: Migration[]): { applied: number[] } {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const known = db.prepare("SELECT version FROM schema_migrations ORDER BY version").all() as { version: number }[];
  const newest = known.at(-1)?.version ?? 0;
  const latest = migrations.at(-1)?.version ?? 0;
  if (newest > latest) {
    throw new AppError("database-too-new",
      `database schema version ${newest} is newer than this version of egw knows (${latest}); upgrade egw or restore a backup`);
  }
  const pending = migrations.filter((m) => m.version > newest);
  const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
  db.transaction(() => {
    for (const migration of pending) {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
    }
    if (hasTable(db, "changelog")) installChangelogTriggers(db);
  }).immediate();
  return { applied: pending.map((m) => m.version) };
}

function hasTable(db: Db, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}
