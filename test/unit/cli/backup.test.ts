import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { backupName, backupsBeyond, utcStamp } from "../../../appliance/cli/commands/backup.js";
import { main } from "../../../appliance/cli/main.js";
import { MIGRATIONS_DIR } from "../../../appliance/paths.js";
import { openDatabase } from "../../../appliance/store/database.js";
import { migrate, readMigrations } from "../../../appliance/store/migrate.js";
import { Store } from "../../../appliance/store/store.js";
import { dumpReplicated, runWorkload } from "../replication/replication-helpers.js";
import { captureIo } from "./fake-api.js";

const MIGRATIONS = readMigrations(MIGRATIONS_DIR);
const isRoot = process.getuid?.() === 0;

/** A config as the daemon reads it, its database at `database` (relative to the config's directory). */
function writeConfig(dir: string, database: string): string {
  const path = join(dir, "egw.json");
  writeFileSync(path, JSON.stringify({
    gateway: { name: "gw-test" },
    api: { listen: [`unix:${join(dir, "api.sock")}`], adminTokenFile: "admin-token" },
    database: { path: database },
    network: { inside: { interface: "inside" }, outside: { interface: "outside" } },
  }));
  return path;
}

/** The daemon's store: WAL, migrated, a realistic history, and held open (as the running daemon holds it). */
function liveStore(path: string): Store {
  mkdirSync(join(path, ".."), { recursive: true });
  const db = openDatabase(path);
  migrate(db, MIGRATIONS);
  const store = new Store(db);
  runWorkload(store);
  return store;
}

const run = async (...args: string[]) => {
  const io = captureIo();
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
};
const dumpOf = (path: string) => {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return dumpReplicated(db);
  } finally {
    db.close();
  }
};
const modeOf = (path: string) => statSync(path).mode & 0o777;

describe("egw backup", () => {
  let dir = "";
  let config = "";
  let store: Store;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-cli-backup-"));
    config = writeConfig(dir, "data/egw.db");
    store = liveStore(join(dir, "data", "egw.db"));
  });
  after(() => {
    store.db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes a verified copy named by the UTC time into backups/ beside the database, and says what it holds", async () => {
    const started = new Date();
    const { code, out, err } = await run("backup", "--config", config);
    const finished = new Date();
    assert.equal(code, 0, err);
    const written = /^wrote (\S+): [\d.]+ KiB, mode 0600, integrity ok$/m.exec(out)?.[1] ?? "";
    assert.equal(join(written, ".."), join(dir, "data", "backups"));
    const stamp = /^egw-(\d{8}-\d{6}Z)\.db$/.exec(basename(written))?.[1] ?? "";
    assert.ok(stamp >= utcStamp(started) && stamp <= utcStamp(finished), `${stamp} is the time of the run, in UTC`);
    assert.match(out, new RegExp(`^store revision ${store.revision()} \\(schema version ${MIGRATIONS.at(-1)?.version}\\): 1 cluster\\(s\\), 3 egress IP\\(s\\), 3 mapping\\(s\\), 2 route\\(s\\), 0 active token\\(s\\)$`, "m"));
    assert.equal(modeOf(join(dir, "data", "backups")), 0o700);
    assert.equal(modeOf(written), 0o600);
    assert.deepEqual(dumpOf(written), dumpReplicated(store.db));
  });

  it("keeps the newest --keep backups, this one included, and leaves every other file alone", async () => {
    const backups = join(dir, "kept");
    mkdirSync(backups);
    const planted = ["egw-20200101-000000Z.db", "egw-20200102-000000Z.db", "egw-20200102-000000Z-1.db", "notes.txt", "egw-manual.db"];
    for (const name of planted) writeFileSync(join(backups, name), "old\n");
    const first = await run("backup", "--config", config, "--directory", backups, "--keep", "2");
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /^removed 2 older backup\(s\) beyond --keep 2: .*egw-20200101-000000Z\.db, .*egw-20200102-000000Z\.db$/m);
    const second = await run("backup", "--config", config, "--directory", backups, "--keep", "2");
    assert.equal(second.code, 0, second.err);
    const names = readdirSync(backups).sort();
    const fresh = names.filter((name) => !planted.includes(name));
    assert.equal(fresh.length, 2, `both new backups are kept: ${names.join(" ")}`);
    assert.deepEqual(names.filter((name) => planted.includes(name)), ["egw-manual.db", "notes.txt"], "files not named like a backup stay");
    for (const name of fresh) assert.deepEqual(dumpOf(join(backups, name)), dumpReplicated(store.db));
  });

  it("--output writes exactly that file, and --json says what it wrote", async () => {
    const output = join(dir, "one-off.db");
    const { code, out, err } = await run("backup", "--config", config, "--output", output, "--json");
    assert.equal(code, 0, err);
    const report = JSON.parse(out) as Record<string, unknown>;
    assert.deepEqual({ ...report, bytes: typeof report["bytes"] }, {
      path: output, database: join(dir, "data", "egw.db"), mode: "0600", integrity: "ok", schemaVersion: MIGRATIONS.at(-1)?.version,
      revision: store.revision(), clusters: 1, egressIps: 3, mappings: 3, routes: 2, tokens: 0, bytes: "number", removed: [],
    });
    assert.equal(report["bytes"], statSync(output).size);
  });

  it("never writes to the live database, and fails without leaving anything when there is none", async () => {
    const live = join(dir, "data", "egw.db");
    const before = readFileSync(live);
    for (const target of [live, `${live}-wal`]) {
      const { code, err } = await run("backup", "--config", config, "--output", target);
      assert.equal(code, 2);
      assert.match(err, /is the live database or one of its files; a backup never writes there/);
    }
    assert.deepEqual(readFileSync(live), before);
    const empty = mkdtempSync(join(dir, "empty-"));
    const { code, err } = await run("backup", "--config", writeConfig(empty, "egw.db"));
    assert.equal(code, 2);
    assert.match(err, /there is no database at .*egw\.db \(database\.path in .*egw\.json\): nothing to back up/);
    assert.deepEqual(readdirSync(empty), ["egw.json"], "not even a backups directory");
  });

  it("refuses contradictory or invalid options with its usage (exit status 2)", async () => {
    for (const args of [["--output", "x.db", "--directory", "d"], ["--output", "x.db", "--keep", "3"], ["--keep", "0"], ["--keep", "two"], ["extra"]]) {
      const { code, err } = await run("backup", "--config", config, ...args);
      assert.equal(code, 2, args.join(" "));
      assert.match(err, /usage:\n {2}egw backup/);
    }
  });

  it("names backups so that they sort as they happened, and prunes by that order", () => {
    const at = new Date("2026-11-23T14:07:12.345Z");
    assert.equal(backupName(at, () => false), "egw-20261123-140712Z.db");
    const taken = new Set(["egw-20261123-140712Z.db", "egw-20261123-140712Z-1.db"]);
    assert.equal(backupName(at, (name) => taken.has(name)), "egw-20261123-140712Z-2.db");
    const names = ["egw-20261123-140712Z-2.db", "egw-20261123-140712Z.db", "egw-20261123-140712Z-10.db", "egw-20261123-140712Z-1.db",
      "egw-20261122-235959Z.db", "egw-before-upgrade.db", "egw-20261123-140712Z.db.partial"];
    assert.deepEqual(backupsBeyond(names, 3), ["egw-20261122-235959Z.db", "egw-20261123-140712Z.db"]);
    assert.deepEqual(backupsBeyond(names, 10), []);
  });
});

describe("egw restore", { skip: isRoot ? false : "needs root (the command does)" }, () => {
  let dir = "";
  let backup = "";
  let source: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-cli-restore-"));
    source = liveStore(join(dir, "source", "egw.db"));
    backup = join(dir, "backup.db");
    const made = await run("backup", "--config", writeConfig(join(dir, "source"), "egw.db"), "--output", backup);
    assert.equal(made.code, 0, made.err);
  });
  after(() => {
    source.db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A gateway's config and database directory, owned by `owner` (the daemon's user), without a database yet. */
  function gateway(name: string, owner = { uid: 0, gid: 0 }): { config: string; database: string; data: string } {
    const root = join(dir, name);
    mkdirSync(join(root, "data"), { recursive: true, mode: 0o700 });
    chownSync(join(root, "data"), owner.uid, owner.gid);
    return { config: writeConfig(root, "data/egw.db"), database: join(root, "data", "egw.db"), data: join(root, "data") };
  }

  it("installs the backup on a fresh gateway for the daemon's user, mode 0600, and leaves the backup as it was", async () => {
    const gw = gateway("fresh", { uid: 65534, gid: 65534 });
    const before = readFileSync(backup);
    const { code, out, err } = await run("restore", backup, "--config", gw.config);
    assert.equal(code, 0, err);
    assert.match(out, new RegExp(`^restored ${backup} to ${gw.database} \\(owner 65534:65534, mode 0600\\), integrity ok$`, "m"));
    assert.match(out, new RegExp(`^store revision ${source.revision()} \\(schema version \\d+\\): 1 cluster\\(s\\), 3 egress IP\\(s\\), 3 mapping\\(s\\)`, "m"));
    assert.match(out, /^start the daemon: systemctl start egw$/m);
    const stat = statSync(gw.database);
    assert.deepEqual([stat.uid, stat.gid, stat.mode & 0o777], [65534, 65534, 0o600]);
    assert.deepEqual(readdirSync(gw.data), ["egw.db"], "nothing but the database");
    assert.deepEqual(dumpOf(gw.database), dumpReplicated(source.db));
    assert.deepEqual(readFileSync(backup), before);
  });

  it("--json reports what it installed, for scripts", async () => {
    const gw = gateway("json", { uid: 65534, gid: 65534 });
    const { code, out, err } = await run("restore", backup, "--config", gw.config, "--json");
    assert.equal(code, 0, err);
    const report = JSON.parse(out) as Record<string, unknown>;
    assert.deepEqual({ ...report, bytes: typeof report["bytes"], schemaVersion: typeof report["schemaVersion"] }, {
      restored: backup, database: gw.database, owner: { uid: 65534, gid: 65534 }, mode: "0600", movedAside: null,
      revision: source.revision(), clusters: 1, egressIps: 3, mappings: 3, routes: 2, tokens: 0, bytes: "number", schemaVersion: "number",
    });
  });

  it("replaces a database only with --force, moving it aside with its -wal and -shm files", async () => {
    const gw = gateway("replace");
    assert.equal((await run("restore", backup, "--config", gw.config)).code, 0);
    writeFileSync(`${gw.database}-wal`, "the old database's WAL\n");
    writeFileSync(`${gw.database}-shm`, "its shared memory\n");
    const old = readFileSync(gw.database);

    const refused = await run("restore", backup, "--config", gw.config);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /a database is there already \(.*egw\.db, .*egw\.db-wal, .*egw\.db-shm\); egw restore replaces it only with --force/);
    assert.deepEqual(readdirSync(gw.data).sort(), ["egw.db", "egw.db-shm", "egw.db-wal"]);

    const { code, out, err } = await run("restore", backup, "--config", gw.config, "--force");
    assert.equal(code, 0, err);
    const aside = /^the database that was there is now (\S+)$/m.exec(out)?.[1] ?? "";
    assert.match(basename(aside), /^egw\.db\.before-restore-\d{8}-\d{6}Z$/);
    assert.deepEqual(readFileSync(aside), old);
    assert.equal(readFileSync(`${aside}-wal`, "utf8"), "the old database's WAL\n");
    assert.equal(readFileSync(`${aside}-shm`, "utf8"), "its shared memory\n");
    assert.equal(existsSync(`${gw.database}-wal`) || existsSync(`${gw.database}-shm`), false, "no stale WAL beside the restored database");
    assert.deepEqual(dumpOf(gw.database), dumpReplicated(source.db));
  });

  it("refuses while a process holds the database open, even with --force, and changes nothing", async () => {
    const gw = gateway("held");
    assert.equal((await run("restore", backup, "--config", gw.config)).code, 0);
    const before = readFileSync(gw.database);
    const fd = openSync(gw.database, "r");
    let holder: ChildProcess | undefined;
    try {
      holder = spawn("sleep", ["600"], { stdio: [fd, "ignore", "ignore"] });
      await once(holder, "spawn");
      closeSync(fd);
      const { code, err } = await run("restore", backup, "--config", gw.config, "--force");
      assert.equal(code, 2);
      assert.match(err, new RegExp(`the database ${gw.database} is open in pid ${holder.pid} \\(sleep 600\\): stop the daemon first`));
      assert.deepEqual(readdirSync(gw.data), ["egw.db"]);
      assert.deepEqual(readFileSync(gw.database), before);
    } finally {
      if (holder && holder.exitCode === null) {
        holder.kill("SIGKILL");
        await once(holder, "exit");
      }
    }
  });

  it("refuses a backup this release cannot start on, and installs nothing", async () => {
    const gw = gateway("too-new");
    const newer = join(dir, "newer.db");
    writeFileSync(newer, readFileSync(backup));
    const db = new Database(newer);
    db.prepare("INSERT INTO schema_migrations VALUES (?, 'from_the_future', 'now')").run((MIGRATIONS.at(-1)?.version ?? 0) + 1);
    db.close();
    const { code, err } = await run("restore", newer, "--config", gw.config);
    assert.equal(code, 2);
    assert.match(err, /newer than this version of egw knows/);
    assert.deepEqual(readdirSync(gw.data), []);
  });

  it("says how to make a database directory that does not exist", async () => {
    const root = join(dir, "no-directory");
    mkdirSync(root);
    const { code, err } = await run("restore", backup, "--config", writeConfig(root, "state/egw.db"));
    assert.equal(code, 2);
    assert.match(err, /the database directory .*\/state does not exist; .*install -d -m 0700 -o egw -g egw .*\/state/);
    assert.deepEqual(readdirSync(root), ["egw.json"]);
  });
});
