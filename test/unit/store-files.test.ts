import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AppError } from "../../appliance/errors.js";
import { MIGRATIONS_DIR } from "../../appliance/paths.js";
import { checkIntegrity, openDatabase } from "../../appliance/store/database.js";
import { migrate, readMigrations } from "../../appliance/store/migrate.js";

describe("the database files", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-store-files-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

  it("are created mode 0600 (database, -wal and -shm), whatever the umask", () => {
    const path = join(dir, "fresh", "egw.db");
    const previous = process.umask(0o022);
    try {
      const db = openDatabase(path);
      migrate(db, readMigrations(MIGRATIONS_DIR));
      db.prepare("INSERT INTO egress_ips (address, family, description, created_at, updated_at) VALUES ('203.0.113.10', 4, '', 'now', 'now')").run();
      for (const file of [path, `${path}-wal`, `${path}-shm`]) assert.equal(modeOf(file), "600", file);
      db.close();
    } finally {
      process.umask(previous);
    }
  });

  it("tightens a database left readable by others", () => {
    const path = join(dir, "loose.db");
    writeFileSync(path, "", { mode: 0o644 });
    openDatabase(path).close();
    assert.equal(modeOf(path), "600");
  });

  it("refuses a store that fails SQLite's integrity check, naming the file", () => {
    const path = join(dir, "corrupt.db");
    const db = openDatabase(path);
    db.pragma("journal_mode = DELETE");
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t (v);");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    db.transaction(() => { for (let i = 0; i < 5000; i++) insert.run(`value-${i}-${"x".repeat(40)}`); })();
    assert.doesNotThrow(() => checkIntegrity(db, path));
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    db.close();
    // Scribble over a page in the middle of the file: a torn write or a bad disk block.
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, pageSize * 20);
    closeSync(fd);
    const reopened = openDatabase(path);
    try {
      assert.throws(() => checkIntegrity(reopened, path), (error: AppError) => error.code === "database-corrupt" && error.message.includes(path));
    } finally {
      reopened.close();
    }
  });
});
