import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { main } from "../../appliance/cli/main.js";
import { loadConfig } from "../../appliance/config/load.js";
import { MIGRATIONS_DIR, PACKAGE_ROOT } from "../../appliance/paths.js";
import { openDatabase } from "../../appliance/store/database.js";
import { migrate, readMigrations } from "../../appliance/store/migrate.js";
import { captureIo } from "./cli/fake-api.js";

/** A unit file's settings: each key with every value it is given, in order (systemd's lists accumulate). */
function unitSettings(name: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of readFileSync(join(PACKAGE_ROOT, "templates", "systemd", name), "utf8").split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) settings.set(match[1] as string, [...(settings.get(match[1] as string) ?? []), match[2] as string]);
  }
  return settings;
}

const one = (settings: Map<string, string[]>, key: string) => {
  const values = settings.get(key) ?? [];
  assert.equal(values.length, 1, `${key} is set once`);
  return values[0] as string;
};

describe("templates/systemd/egw-backup.service and .timer", () => {
  const service = unitSettings("egw-backup.service");
  const timer = unitSettings("egw-backup.timer");
  const example = loadConfig(join(PACKAGE_ROOT, "docs", "examples", "egw.yaml"));
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-backup-unit-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs egw backup into /var/lib/egw/backups as egw, without capabilities, and only once the example's database exists", () => {
    const args = one(service, "ExecStart").split(/\s+/);
    assert.deepEqual(args.slice(0, 2), ["/usr/bin/egw", "backup"]);
    assert.equal(args[args.indexOf("--directory") + 1], "/var/lib/egw/backups");
    assert.equal(args[args.indexOf("--config") + 1], "/etc/egw/egw.yaml");
    assert.equal(one(service, "Type"), "oneshot");
    assert.deepEqual([one(service, "User"), one(service, "Group")], ["egw", "egw"]);
    assert.equal(one(service, "CapabilityBoundingSet"), "", "no capability at all");
    assert.equal(one(service, "NoNewPrivileges"), "yes");
    assert.equal(one(service, "ProtectSystem"), "strict");
    assert.equal(one(service, "ConditionPathExists"), example.database.path, "skipped until the daemon made the database");
    // WAL readers take their locks in the -shm file beside the database: its directory must be writable, and holds the backups.
    const writable = one(service, "ReadWritePaths").split(/\s+/);
    assert.ok(writable.includes(dirname(example.database.path)), `${dirname(example.database.path)} is writable`);
    assert.ok(writable.some((path) => "/var/lib/egw/backups".startsWith(`${path}/`)), "the backup directory is writable");
    assert.equal(one(service, "StateDirectory"), "egw/backups");
    assert.equal(one(service, "StateDirectoryMode"), "0700");
  });

  it("its command line, with its paths moved into a test directory, writes a backup there", async () => {
    mkdirSync(join(dir, "state"));
    const db = openDatabase(join(dir, "state", "egw.db"));
    migrate(db, readMigrations(MIGRATIONS_DIR));
    try {
      writeFileSync(join(dir, "egw.yaml"), readFileSync(join(PACKAGE_ROOT, "docs", "examples", "egw.yaml"), "utf8")
        .replace(`path: ${example.database.path}`, `path: ${join(dir, "state", "egw.db")}`));
      const args = one(service, "ExecStart").split(/\s+/).slice(1)
        .map((arg) => (arg === "/etc/egw/egw.yaml" ? join(dir, "egw.yaml") : arg === "/var/lib/egw/backups" ? join(dir, "state", "backups") : arg));
      const io = captureIo();
      assert.equal(await main(args, io), 0, io.err());
      assert.match(io.out(), /^wrote .*\/state\/backups\/egw-\d{8}-\d{6}Z\.db: /m);
      assert.equal(readdirSync(join(dir, "state", "backups")).length, 1);
    } finally {
      db.close();
    }
  });

  it("the timer starts it daily, catches up after downtime, and spreads the start", () => {
    assert.equal(one(timer, "OnCalendar"), "daily");
    assert.equal(one(timer, "Persistent"), "true");
    assert.match(one(timer, "RandomizedDelaySec"), /^\d+(h|min|s)?$/);
    assert.equal(timer.get("Unit"), undefined, "it starts the service of its own name");
    assert.equal(one(timer, "WantedBy"), "timers.target");
  });
});
