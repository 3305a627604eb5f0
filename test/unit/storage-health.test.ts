import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MIGRATIONS_DIR } from "../../appliance/paths.js";
import { openDatabase } from "../../appliance/store/database.js";
import { migrate, readMigrations } from "../../appliance/store/migrate.js";
import { StorageHealth } from "../../appliance/store/storage-health.js";
import { Store } from "../../appliance/store/store.js";

const MiB = 1024 * 1024;

describe("storage health (readiness on a full disk)", () => {
  it("reports too little free space beside the database, and recovers when space is freed", () => {
    let free = 1_000 * MiB;
    let now = 0;
    const health = new StorageHealth("/var/lib/egw/egw.db", { minFreeBytes: 64 * MiB, maxAgeMs: 1_000 }, () => free, () => now);
    assert.equal(health.problem(), undefined);
    free = 10 * MiB;
    assert.equal(health.problem(), undefined, "one reading per second at most");
    now = 1_000;
    assert.match(health.problem() ?? "", /only 10 MiB free beside \/var\/lib\/egw\/egw\.db/);
    free = 500 * MiB;
    now = 2_000;
    assert.equal(health.problem(), undefined);
  });

  it("reports a write the store could not make for lack of space (SQLITE_FULL) until a write succeeds again", async () => {
    const db = openDatabase(":memory:");
    migrate(db, readMigrations(MIGRATIONS_DIR));
    const store = new Store(db);
    const health = new StorageHealth(":memory:", { minFreeBytes: 0 });
    store.on("writeResult", (error) => health.recordWrite(error));
    const pages = db.pragma("page_count", { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 2}`);
    const audit = { action: "create" as const, resource: "test" };
    let full: unknown;
    for (let i = 0; i < 200 && full === undefined; i++) {
      await store.writeBatched("admin", (tx) => {
        tx.db.prepare("INSERT INTO egress_ips (address, family, description, created_at, updated_at) VALUES (?, 4, ?, 'now', 'now')")
          .run(`203.0.113.${i % 250}-${i}`, "x".repeat(2_000));
        tx.audit(audit);
      }).catch((error: unknown) => (full = error));
    }
    assert.equal((full as { code?: string }).code, "SQLITE_FULL");
    assert.match(health.problem() ?? "", /^the last write failed: SQLITE_FULL/);
    db.pragma("max_page_count = 1073741823");
    await store.writeBatched("admin", (tx) => {
      tx.db.prepare("INSERT INTO egress_ips (address, family, description, created_at, updated_at) VALUES ('198.51.100.1', 4, '', 'now', 'now')").run();
      tx.audit(audit);
    });
    assert.equal(health.problem(), undefined);
  });
});
