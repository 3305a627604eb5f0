import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { AppError } from "../../appliance/errors.js";
import { MIGRATIONS_DIR, PACKAGE_ROOT } from "../../appliance/paths.js";
import { changelogTriggers } from "../../appliance/store/changelog-triggers.js";
import { openDatabase, type Db } from "../../appliance/store/database.js";
import { migrate, readMigrations, type Migration } from "../../appliance/store/migrate.js";

let root: string;
let counter = 0;
const open: Db[] = [];

before(() => {
  root = mkdtempSync(join(tmpdir(), "egw-migrate-test-"));
});
afterEach(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

function freshPath(): string {
  return join(root, `db-${counter++}`, "egw.db");
}

function openDb(path: string): Db {
  const db = openDatabase(path);
  open.push(db);
  return db;
}

/** A directory of migration files, for the cases the real directory cannot show. */
function migrationDir(files: Record<string, string>): string {
  const dir = join(root, `migrations-${counter++}`);
  mkdirSync(dir);
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

function tables(db: Db): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[])
    .map((row) => row.name);
}

function recorded(db: Db): { version: number; name: string; applied_at: string }[] {
  return db.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").all() as { version: number; name: string; applied_at: string }[];
}

function fileHash(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

describe("readMigrations on the real migrations directory", () => {
  it("numbers them 1..n without gaps and reads their SQL", () => {
    const migrations = readMigrations(MIGRATIONS_DIR);
    assert.ok(migrations.length >= 1);
    migrations.forEach((m, i) => {
      assert.equal(m.version, i + 1);
      assert.match(m.name, /^[a-z0-9_]+$/);
      assert.ok(m.sql.trim().length > 0, `${m.version}_${m.name} has SQL`);
    });
    assert.deepEqual(migrations[0] && { version: migrations[0].version, name: migrations[0].name }, { version: 1, name: "initial" });
  });

  it("covers every .sql file in the directory (none is silently ignored by a misspelt name)", () => {
    const sqlFiles = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith(".sql"));
    assert.equal(readMigrations(MIGRATIONS_DIR).length, sqlFiles.length);
  });
});

describe("readMigrations on a temp directory", () => {
  it("sorts by number, not by name, and ignores other files", () => {
    const dir = migrationDir({
      "002_second.sql": "CREATE TABLE b (x);",
      "001_first.sql": "CREATE TABLE a (x);",
      "010_tenth.sql": "CREATE TABLE j (x);",
      ...Object.fromEntries([3, 4, 5, 6, 7, 8, 9].map((n) => [`00${n}_m${n}.sql`, `CREATE TABLE t${n} (x);`])),
      "README.md": "not a migration",
      "011_Upper.sql": "not matched: uppercase",
      "12_short.sql": "not matched: two digits",
      "013_x.sql.bak": "not matched: suffix",
    });
    const migrations = readMigrations(dir);
    assert.deepEqual(migrations.map((m) => m.version), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(migrations.slice(0, 2).map((m) => [m.name, m.sql]), [["first", "CREATE TABLE a (x);"], ["second", "CREATE TABLE b (x);"]]);
    assert.equal(migrations.at(-1)?.name, "tenth");
  });

  const broken: [label: string, files: string[], message: RegExp][] = [
    ["a gap (001, 003)", ["001_a.sql", "003_c.sql"], /found 3 at position 2/],
    ["not starting at 001", ["002_b.sql", "003_c.sql"], /found 2 at position 1/],
    ["a duplicate number", ["001_a.sql", "001_b.sql", "002_c.sql"], /found 1 at position 2/],
    ["starting at 000", ["000_zero.sql", "001_a.sql"], /found 0 at position 1/],
  ];
  for (const [label, files, message] of broken) {
    it(`throws on ${label}`, () => {
      const dir = migrationDir(Object.fromEntries(files.map((f) => [f, "SELECT 1;"])));
      assert.throws(() => readMigrations(dir), message);
    });
  }

  it("an empty directory has no migrations", () => {
    assert.deepEqual(readMigrations(migrationDir({})), []);
  });

  it("a missing directory throws", () => {
    assert.throws(() => readMigrations(join(root, "no-such-dir")), /ENOENT/);
  });
});

describe("openDatabase", () => {
  it("creates the parent directory, turns on WAL, foreign keys and full sync", () => {
    const path = freshPath();
    const db = openDb(path);
    assert.ok(existsSync(path));
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
    assert.equal(db.pragma("synchronous", { simple: true }), 2, "FULL");
    assert.equal(db.pragma("busy_timeout", { simple: true }), 5000);
  });

  it("WAL persists in the file: a plain reopen still sees it", () => {
    const path = freshPath();
    openDb(path).close();
    const db = openDb(path);
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
  });
});

describe("migrate against the real migrations", () => {
  let migrations: Migration[];
  beforeEach(() => {
    migrations = readMigrations(MIGRATIONS_DIR);
  });
  const all = () => migrations.map((m) => m.version);

  it("applies all and records each version with its name and time", () => {
    const db = openDb(freshPath());
    const started = Date.now();
    assert.deepEqual(migrate(db, migrations), { applied: all() });
    const rows = recorded(db);
    assert.deepEqual(rows.map((r) => [r.version, r.name]), migrations.map((m) => [m.version, m.name]));
    for (const row of rows) {
      const at = Date.parse(row.applied_at);
      assert.ok(Number.isFinite(at) && at >= started - 1000 && at <= Date.now() + 1000, `applied_at ${row.applied_at}`);
    }
    for (const table of ["revision", "egress_ips", "clusters", "mappings", "routes", "tokens", "audit_log"]) {
      assert.ok(tables(db).includes(table), `table ${table} exists`);
    }
    assert.deepEqual(db.prepare("SELECT id, value FROM revision").all(), [{ id: 1, value: 0 }]);
  });

  it("the schema passes SQLite's own checks", () => {
    const db = openDb(freshPath());
    migrate(db, migrations);
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    assert.deepEqual(db.pragma("foreign_key_check"), []);
  });

  it("a second run applies nothing and changes nothing", () => {
    const path = freshPath();
    const db = openDb(path);
    migrate(db, migrations);
    const before = { rows: recorded(db), tables: tables(db) };
    const changesBefore = (db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;
    assert.deepEqual(migrate(db, migrations), { applied: [] });
    assert.deepEqual({ rows: recorded(db), tables: tables(db) }, before);
    assert.equal((db.prepare("SELECT total_changes() AS n").get() as { n: number }).n, changesBefore);
  });

  it("a reopened database applies nothing either", () => {
    const path = freshPath();
    migrate(openDb(path), migrations);
    assert.deepEqual(migrate(openDb(path), migrations), { applied: [] });
  });

  it("foreign keys are enforced on the migrated schema", () => {
    const db = openDb(freshPath());
    migrate(db, migrations);
    const now = new Date().toISOString();
    assert.throws(
      () => db.prepare("INSERT INTO cluster_egress_ips (cluster, address) VALUES (?, ?)").run("no-such-cluster", "203.0.113.10"),
      /FOREIGN KEY constraint failed/,
    );
    db.prepare("INSERT INTO clusters (name, created_at, updated_at) VALUES (?, ?, ?)").run("prod", now, now);
    assert.equal((db.prepare("SELECT count(*) AS n FROM clusters").get() as { n: number }).n, 1);
  });

  it("a database with a newer recorded version is refused and left unchanged", () => {
    const path = freshPath();
    const latest = migrations.at(-1)?.version ?? 0;
    {
      const db = openDb(path);
      migrate(db, migrations);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(latest + 1, "from_the_future", "2030-01-01T00:00:00.000Z");
      db.close();
    }
    const hashBefore = fileHash(path);
    const db = openDb(path);
    const schemaBefore = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name").all();
    const rowsBefore = recorded(db);

    let caught: unknown;
    try {
      migrate(db, migrations);
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof AppError, `expected AppError, got ${String(caught)}`);
    assert.equal(caught.code, "database-too-new");
    assert.equal(caught.status, 500);
    assert.ok(caught.message.includes(String(latest + 1)), caught.message);
    assert.ok(caught.message.includes(`(${latest})`), caught.message);

    assert.deepEqual(db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name").all(), schemaBefore);
    assert.deepEqual(recorded(db), rowsBefore);
    assert.equal((db.prepare("SELECT total_changes() AS n").get() as { n: number }).n, 0, "no row written by this connection");
    db.close();
    assert.equal(fileHash(path), hashBefore, "the database file is byte-for-byte the same");
  });

  it("only schema_migrations from the future (no other tables) is refused too, and no table is created", () => {
    const path = freshPath();
    {
      const db = openDb(path);
      db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
      db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(999, "future", "2030-01-01T00:00:00Z");
      db.close();
    }
    const db = openDb(path);
    assert.throws(() => migrate(db, migrations), (error: unknown) => error instanceof AppError && error.code === "database-too-new");
    assert.deepEqual(tables(db), ["schema_migrations"]);
  });
});

describe("migrate with temp migrations", () => {
  it("applies only the pending ones, in order", () => {
    const db = openDb(freshPath());
    const first = readMigrations(migrationDir({ "001_a.sql": "CREATE TABLE a (x INTEGER);" }));
    assert.deepEqual(migrate(db, first).applied, [1]);
    const both = readMigrations(migrationDir({
      "001_a.sql": "CREATE TABLE a (x INTEGER);",
      "002_b.sql": "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);",
      "003_c.sql": "CREATE TABLE c (y INTEGER REFERENCES b (x));",
    }));
    assert.deepEqual(migrate(db, both).applied, [2, 3]);
    assert.deepEqual(tables(db), ["a", "b", "c", "schema_migrations"]);
    assert.deepEqual(db.prepare("SELECT x FROM a").all(), [{ x: 1 }], "001 was not re-run");
  });

  it("a failing migration rolls back every migration of the run", () => {
    const db = openDb(freshPath());
    const migrations = readMigrations(migrationDir({
      "001_a.sql": "CREATE TABLE a (x INTEGER);",
      "002_b.sql": "CREATE TABLE b (x INTEGER); INSERT INTO nope VALUES (1);",
    }));
    assert.throws(() => migrate(db, migrations), /no such table: nope/);
    assert.deepEqual(tables(db), ["schema_migrations"]);
    assert.deepEqual(recorded(db), []);
    // Fixed, it applies cleanly from the start.
    const fixed = readMigrations(migrationDir({ "001_a.sql": "CREATE TABLE a (x INTEGER);", "002_b.sql": "CREATE TABLE b (x INTEGER);" }));
    assert.deepEqual(migrate(db, fixed).applied, [1, 2]);
  });

  it("no migrations at all on a fresh database applies nothing", () => {
    const db = openDb(freshPath());
    assert.deepEqual(migrate(db, []), { applied: [] });
    assert.deepEqual(tables(db), ["schema_migrations"]);
  });
});

describe("migrate installs the changelog triggers generated from REPLICATED_TABLES", () => {
  /** The migrations as they were when 002 and 004 wrote the changelog triggers by hand, after their other statements. */
  const HAND_WRITTEN = join(PACKAGE_ROOT, "test/unit/fixtures/hand-written-changelog-triggers");
  const previous = (): Migration[] => readMigrations(MIGRATIONS_DIR).map((m) => {
    const file = join(HAND_WRITTEN, `${String(m.version).padStart(3, "0")}_${m.name}.sql`);
    return existsSync(file) ? { ...m, sql: `${m.sql}\n${readFileSync(file, "utf8")}` } : m;
  });

  /** A database as the previous version left it: its migrations up to `version`, and no trigger step. */
  function createdByPreviousVersion(db: Db, version: number): void {
    migrate(db, []);
    for (const m of previous().filter((m) => m.version <= version)) {
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(m.version, m.name, "2024-01-01T00:00:00.000Z");
    }
  }

  const schema = (db: Db) => db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").all();
  const triggers = (db: Db) => db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all();
  const generated = () => changelogTriggers().map((t) => ({ name: t.name, sql: t.sql })).sort((a, b) => (a.name < b.name ? -1 : 1));

  function fresh(): Db {
    const db = openDb(freshPath());
    migrate(db, readMigrations(MIGRATIONS_DIR));
    return db;
  }

  it("a fresh database holds exactly the generated triggers", () => {
    assert.deepEqual(triggers(fresh()), generated());
  });

  it("a database whose triggers the hand-written migrations made holds the very same text: only later migrations are applied, and its triggers stay", () => {
    const db = openDb(freshPath());
    createdByPreviousVersion(db, 4);
    const present = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name));
    const handWrittenEra = generated().filter((t) => present.has(t.name.replace(/_changelog_(insert|update|delete)$/, "")));
    assert.deepEqual(triggers(db), handWrittenEra, "the generator writes what 002 and 004 wrote");
    assert.deepEqual(migrate(db, readMigrations(MIGRATIONS_DIR)), { applied: [5, 6] });
    assert.deepEqual(schema(db), schema(fresh()));
  });

  for (const version of [1, 2, 3]) {
    it(`a database at version ${version} of the previous migrations upgrades to the same schema as a fresh one`, () => {
      const db = openDb(freshPath());
      createdByPreviousVersion(db, version);
      assert.deepEqual(migrate(db, readMigrations(MIGRATIONS_DIR)).applied, [2, 3, 4, 5, 6].filter((v) => v > version));
      assert.deepEqual(schema(db), schema(fresh()));
    });
  }

  it("after the upgrade from version 3 the changelog captures the columns 004 added", () => {
    const db = openDb(freshPath());
    createdByPreviousVersion(db, 3);
    migrate(db, readMigrations(MIGRATIONS_DIR));
    db.prepare("INSERT INTO clusters (name, created_at, updated_at, quota_routes) VALUES ('prod', 'now', 'now', 7)").run();
    const logged = db.prepare("SELECT row FROM changelog WHERE tbl = 'clusters'").get() as { row: string };
    assert.equal((JSON.parse(logged.row) as Record<string, unknown>)["quota_routes"], 7);
  });

  it("a changelog trigger dropped, altered or added behind its back is put right; other triggers are left alone", () => {
    const db = fresh();
    db.exec(`DROP TRIGGER mappings_changelog_update;
      DROP TRIGGER routes_changelog_insert;
      CREATE TRIGGER routes_changelog_insert AFTER INSERT ON routes BEGIN SELECT 1; END;
      CREATE TRIGGER audit_log_changelog_delete AFTER DELETE ON audit_log BEGIN SELECT 1; END;
      CREATE TRIGGER local_note AFTER INSERT ON owned_addresses BEGIN SELECT 1; END;`);
    assert.deepEqual(migrate(db, readMigrations(MIGRATIONS_DIR)), { applied: [] });
    const local = { name: "local_note", sql: "CREATE TRIGGER local_note AFTER INSERT ON owned_addresses BEGIN SELECT 1; END" };
    assert.deepEqual(triggers(db), [...generated(), local].sort((a, b) => (a.name < b.name ? -1 : 1)));
  });
});
