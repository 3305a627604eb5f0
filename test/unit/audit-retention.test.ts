import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { MIGRATIONS_DIR } from "../../appliance/paths.js";
import { pruneAudit, startAuditRetention } from "../../appliance/store/audit-retention.js";
import { openDatabase, type Db } from "../../appliance/store/database.js";
import { migrate, readMigrations } from "../../appliance/store/migrate.js";

const NOW = new Date("2026-06-01T12:00:00.000Z");
const DAY = 86_400_000;

function openDb(): Db {
  const db = openDatabase(":memory:");
  migrate(db, readMigrations(MIGRATIONS_DIR));
  return db;
}

/** Appends `count` audit records, the first `daysAgo` days before NOW, each a second younger than the last. */
function addRecords(db: Db, count: number, daysAgo: number): void {
  const insert = db.prepare("INSERT INTO audit_log (revision, at, actor, action, resource) VALUES (?, ?, 'admin', 'create', 'egress-ips/x')");
  db.transaction(() => {
    for (let i = 0; i < count; i++) insert.run(i + 1, new Date(NOW.getTime() - daysAgo * DAY + i * 1000).toISOString());
  })();
}

const count = (db: Db, table = "audit_log") => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
const oldest = (db: Db) => (db.prepare("SELECT at FROM audit_log ORDER BY id LIMIT 1").get() as { at: string } | undefined)?.at;

describe("pruneAudit", () => {
  it("deletes records older than retentionDays and keeps younger ones", () => {
    const db = openDb();
    addRecords(db, 30, 500);
    addRecords(db, 20, 10);
    assert.equal(pruneAudit(db, { retentionDays: 400, maxRecords: 1_000_000 }, NOW), 30);
    assert.equal(count(db), 20);
    assert.ok((oldest(db) ?? "") >= new Date(NOW.getTime() - 10 * DAY).toISOString());
  });

  it("keeps at most maxRecords, deleting the oldest", () => {
    const db = openDb();
    addRecords(db, 1_500, 1);
    const newest = db.prepare("SELECT id FROM audit_log ORDER BY id DESC LIMIT 1000").all();
    assert.equal(pruneAudit(db, { retentionDays: 400, maxRecords: 1_000 }, NOW), 500);
    assert.deepEqual(db.prepare("SELECT id FROM audit_log ORDER BY id DESC").all(), newest);
  });

  it("removes at most one batch per call, so a backlog drains over several calls", () => {
    const db = openDb();
    addRecords(db, 250, 500);
    const options = { retentionDays: 400, maxRecords: 1_000_000, batchSize: 100 };
    assert.deepEqual([1, 2, 3, 4].map(() => pruneAudit(db, options, NOW)), [100, 100, 50, 0]);
    assert.equal(count(db), 0);
  });

  it("shares one batch between both limits", () => {
    const db = openDb();
    addRecords(db, 80, 500);
    addRecords(db, 1_100, 1);
    const options = { retentionDays: 400, maxRecords: 1_000, batchSize: 100 };
    assert.equal(pruneAudit(db, options, NOW), 100, "80 expired, then 20 of the excess");
    assert.equal(pruneAudit(db, options, NOW), 80, "the rest of the excess");
    assert.equal(count(db), 1_000);
    assert.equal(pruneAudit(db, options, NOW), 0);
  });

  it("does nothing within both limits", () => {
    const db = openDb();
    addRecords(db, 10, 399);
    assert.equal(pruneAudit(db, { retentionDays: 400, maxRecords: 1_000 }, NOW), 0);
    assert.equal(count(db), 10);
  });

  it("writes nothing to the replication changelog: each gateway prunes its own copy", () => {
    const db = openDb();
    addRecords(db, 50, 500);
    const changelog = count(db, "changelog");
    assert.equal(pruneAudit(db, { retentionDays: 400, maxRecords: 1_000 }, NOW), 50);
    assert.equal(count(db, "changelog"), changelog);
  });
});

describe("startAuditRetention", () => {
  it("leaves records within the limits alone", async () => {
    const db = openDb();
    addRecords(db, 35, 1);
    const handle = startAuditRetention(db, { retentionDays: 400, maxRecords: 1_000, batchSize: 10 }, pino({ enabled: false }), 60_000);
    await sleep(20);
    handle.stop();
    assert.equal(count(db), 35);
  });

  it("prunes at once and keeps going while passes remove full batches, without waiting an interval", async () => {
    const db = openDb();
    addRecords(db, 35, 500);
    addRecords(db, 5, 1);
    const handle = startAuditRetention(db, { retentionDays: 400, maxRecords: 1_000, batchSize: 10 }, pino({ enabled: false }), 60_000);
    try {
      for (let i = 0; i < 100 && count(db) > 5; i++) await sleep(20);
      assert.equal(count(db), 5, "the 35 old records went in batches of 10");
    } finally {
      handle.stop();
    }
  });

  it("logs a failed pass and keeps the timer alive for the next", async () => {
    const db = openDb();
    const warnings: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) });
    db.close();
    const handle = startAuditRetention(db, { retentionDays: 400, maxRecords: 1_000 }, log, 60_000);
    await sleep(20);
    handle.stop();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /audit retention failed/);
  });
});
