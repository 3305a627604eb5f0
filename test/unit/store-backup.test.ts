import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AppError } from "../../appliance/errors.js";
import { MIGRATIONS_DIR } from "../../appliance/paths.js";
import { createEgressIp } from "../../appliance/service/egress-ips.js";
import { backupStore, checkRestorable, stageRestore } from "../../appliance/store/backup.js";
import { openDatabase } from "../../appliance/store/database.js";
import { migrate, readMigrations } from "../../appliance/store/migrate.js";
import { Store } from "../../appliance/store/store.js";
import { HostFiles } from "../../appliance/system/files.js";
import { ExecaRunner } from "../../appliance/system/runner.js";
import { countRows, dumpReplicated, OWN, runWorkload } from "./replication/replication-helpers.js";

const MIGRATIONS = readMigrations(MIGRATIONS_DIR);
const files = new HostFiles(new ExecaRunner());

/** A store in a file, as the daemon keeps it (WAL, migrated), holding the replication tests' realistic history. */
function liveStore(path: string): Store {
  const db = openDatabase(path);
  migrate(db, MIGRATIONS);
  const store = new Store(db);
  runWorkload(store);
  return store;
}

const sha256 = (path: string) => (existsSync(path) ? createHash("sha256").update(readFileSync(path)).digest("hex") : "absent");
const modeOf = (path: string) => statSync(path).mode & 0o777;

function withDb<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

function rejectsWith(code: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof AppError, `an AppError, not ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  };
}

describe("store backups (store/backup.ts)", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-store-backup-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("copy the whole store into one private, self-contained file, and never write to the live database", async () => {
    const live = join(dir, "copy", "egw.db");
    const store = liveStore(live);
    const out = join(dir, "copy", "out");
    mkdirSync(out);
    const before = [live, `${live}-wal`].map(sha256);
    const previous = process.umask(0o022);
    let summary;
    try {
      summary = await backupStore(live, join(out, "backup.db"), files);
    } finally {
      process.umask(previous);
    }
    const backup = join(out, "backup.db");
    assert.deepEqual([live, `${live}-wal`].map(sha256), before, "the live database and its WAL are byte for byte as they were");
    assert.deepEqual(readdirSync(out), ["backup.db"], "no temporary file, no -wal, -shm or -journal beside the copy");
    assert.equal(modeOf(backup), 0o600, "private whatever the umask");
    assert.equal(withDb(backup, (db) => db.pragma("journal_mode", { simple: true })), "delete", "a rollback-journal file: nothing else is needed to open it");
    assert.deepEqual(withDb(backup, dumpReplicated), dumpReplicated(store.db), "every replicated table, row for row");
    assert.deepEqual(summary, {
      schemaVersion: MIGRATIONS.at(-1)?.version, revision: store.revision(),
      clusters: countRows(store.db, "clusters"), egressIps: countRows(store.db, "egress_ips"), mappings: countRows(store.db, "mappings"),
      routes: countRows(store.db, "routes"), tokens: 0, bytes: statSync(backup).size,
    });
    assert.ok(summary.clusters === 1 && summary.mappings === 3 && summary.routes === 2, "the workload left one cluster with three mappings and two routes");
    store.db.close();
  });

  // A copy in small steps would be restarted by every write and never finish: the timeout turns that into a failure.
  it("is the store as of one moment while another connection keeps committing writes", { timeout: 30_000 }, async () => {
    const live = join(dir, "busy", "egw.db");
    const store = liveStore(live);
    // Enough rows that the copy is many pages (a copy in small steps would be restarted or mixed by the writes).
    store.write("admin", (tx) => {
      for (let i = 0; i < 2_000; i++) createEgressIp(tx, { address: `198.18.${i >> 8}.${i & 255}`, description: "x".repeat(200) }, OWN);
    });
    assert.ok(statSync(live).size + statSync(`${live}-wal`).size > 400 * 4096, "hundreds of pages");
    const acknowledgedBefore = store.revision();
    let writing = true;
    let during = 0;
    let next = 2_000;
    const writer = () => {
      if (!writing) return;
      const i = next++;
      store.write("admin", (tx) => createEgressIp(tx, { address: `198.19.${i >> 8}.${i & 255}` }, OWN));
      during++;
      setImmediate(writer);
    };
    setImmediate(writer);
    const summary = await backupStore(live, join(dir, "busy", "backup.db"), files);
    writing = false;
    assert.ok(during > 0, `writes were committed while the backup ran (${during})`);
    const after = store.revision();
    assert.ok(summary.revision >= acknowledgedBefore, "everything acknowledged before the backup is in it");
    assert.ok(summary.revision <= after);
    // Each write added one egress IP and one revision: a copy of one moment keeps them in step.
    const liveOffset = countRows(store.db, "egress_ips") - after;
    assert.equal(summary.egressIps - summary.revision, liveOffset, "egress IPs and revision are of the same moment");
    const addresses = withDb(join(dir, "busy", "backup.db"), (db) => (db.prepare("SELECT address FROM egress_ips").all() as { address: string }[]).map((r) => r.address));
    for (let i = 0; i < 2_000; i++) assert.ok(addresses.includes(`198.18.${i >> 8}.${i & 255}`), `write ${i} is in the copy`);
    store.db.close();
  });

  it("keep an older backup at the destination when the new copy fails its check, and leave nothing else", async () => {
    const live = join(dir, "corrupt.db");
    const db = new Database(live);
    migrate(db, MIGRATIONS);
    const insert = db.prepare("INSERT INTO egress_ips (address, family, description, created_at, updated_at) VALUES (?, 4, '', 'now', 'now')");
    for (let i = 0; i < 50; i++) insert.run(`198.18.0.${i}`);
    const root = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_egress_ips_1'").get() as { rootpage: number }).rootpage;
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    db.close();
    // An index page whose type byte is not a page type: SQLite copies it verbatim, its check does not pass it.
    const fd = openSync(live, "r+");
    writeSync(fd, Buffer.from([0x00]), 0, 1, (root - 1) * pageSize);
    closeSync(fd);
    const out = join(dir, "corrupt-out");
    mkdirSync(out);
    writeFileSync(join(out, "backup.db"), "the previous backup\n");
    await assert.rejects(backupStore(live, join(out, "backup.db"), files), rejectsWith("database-corrupt", /failed its integrity check/));
    assert.equal(readFileSync(join(out, "backup.db"), "utf8"), "the previous backup\n");
    assert.deepEqual(readdirSync(out), ["backup.db"]);
  });

  it("refuse to write over the live database or its files, also through a link, and to back up what is not there", async () => {
    const live = join(dir, "self", "egw.db");
    const store = liveStore(live);
    symlinkSync(join(dir, "self"), join(dir, "self-link"));
    const before = sha256(live);
    for (const target of [live, `${live}-wal`, `${live}-shm`, join(dir, "self-link", "egw.db")]) {
      await assert.rejects(backupStore(live, target, files), rejectsWith("conflict", /live database/), target);
    }
    assert.equal(sha256(live), before);
    assert.equal(countRows(store.db, "clusters"), 1, "the store still reads");
    await assert.rejects(backupStore(join(dir, "nothing.db"), join(dir, "x.db"), files), rejectsWith("not-found", /no database at/));
    assert.equal(existsSync(join(dir, "x.db")), false);
    store.db.close();
  });
});

describe("restoring a backup (stageRestore, checkRestorable)", () => {
  let dir = "";
  let backup = "";
  let source: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-store-restore-"));
    source = liveStore(join(dir, "source", "egw.db"));
    backup = join(dir, "backup.db");
    await backupStore(join(dir, "source", "egw.db"), backup, files);
  });
  after(() => {
    source.db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A copy of the backup with `change` made to it, as another release or a damaged disk would leave it. */
  function variant(name: string, change: (db: Database.Database) => void): string {
    const path = join(dir, name);
    writeFileSync(path, readFileSync(backup));
    const db = new Database(path);
    change(db);
    db.close();
    return path;
  }

  it("stages a checked copy beside the database and puts it in place in one rename; the backup is only read", () => {
    const target = join(dir, "fresh", "egw.db");
    mkdirSync(join(dir, "fresh"));
    const before = sha256(backup);
    const staged = stageRestore(backup, target, files, MIGRATIONS);
    assert.equal(existsSync(target), false, "nothing is in place before commit");
    assert.equal(modeOf(staged.path), 0o600);
    staged.commit();
    staged.discard();
    assert.deepEqual(readdirSync(join(dir, "fresh")), ["egw.db"], "the temporary directory is gone");
    assert.equal(sha256(backup), before);
    assert.deepEqual(withDb(target, dumpReplicated), dumpReplicated(source.db));
    assert.equal(staged.summary.revision, source.revision());
  });

  it("accepts an older schema, which the daemon migrates at start", () => {
    const old = join(dir, "old.db");
    const db = new Database(old);
    migrate(db, MIGRATIONS.slice(0, 2));
    db.close();
    checkRestorable(old, MIGRATIONS);
    const target = join(dir, "old-target", "egw.db");
    mkdirSync(join(dir, "old-target"));
    const staged = stageRestore(old, target, files, MIGRATIONS);
    staged.commit();
    staged.discard();
    const restored = openDatabase(target);
    assert.deepEqual(migrate(restored, MIGRATIONS).applied, MIGRATIONS.slice(2).map((m) => m.version));
    restored.close();
  });

  it("refuses a schema newer than this release, a store of another lineage, and a file that is no store, leaving nothing behind", () => {
    const latest = MIGRATIONS.at(-1)?.version ?? 0;
    const cases: [string, string, RegExp][] = [
      [variant("newer.db", (db) => db.prepare("INSERT INTO schema_migrations VALUES (?, 'from_the_future', 'now')").run(latest + 1)),
        "database-too-new", new RegExp(`schema version ${latest + 1}, newer than this version of egw knows \\(${latest}\\)`)],
      [variant("other.db", (db) => db.prepare("UPDATE schema_migrations SET name = 'something_else' WHERE version = 2").run()),
        "database-corrupt", /migration 2 is "something_else"/],
      [variant("foreign.db", (db) => db.exec("DROP TABLE schema_migrations")), "database-corrupt", /no egw store/],
      [(() => { const p = join(dir, "text.db"); writeFileSync(p, "not a database at all, but long enough to have a header\n".repeat(20)); return p; })(),
        "database-corrupt", /failed its integrity check|cannot open/],
    ];
    const targetDir = join(dir, "refusing");
    mkdirSync(targetDir);
    for (const [file, code, pattern] of cases) {
      assert.throws(() => stageRestore(file, join(targetDir, "egw.db"), files, MIGRATIONS), rejectsWith(code, pattern), file);
      assert.deepEqual(readdirSync(targetDir), [], `nothing left after refusing ${file}`);
    }
    assert.throws(() => stageRestore(join(dir, "missing.db"), join(targetDir, "egw.db"), files, MIGRATIONS), rejectsWith("not-found", /no backup file/));
  });
});
