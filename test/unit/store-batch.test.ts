import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "../../appliance/errors.js";
import { MIGRATIONS_DIR } from "../../appliance/paths.js";
import { createEgressIp } from "../../appliance/service/egress-ips.js";
import { StaticOwnAddresses } from "../../appliance/service/own-addresses.js";
import { openDatabase } from "../../appliance/store/database.js";
import { migrate, readMigrations } from "../../appliance/store/migrate.js";
import { Store } from "../../appliance/store/store.js";

function openStore(): Store {
  const db = openDatabase(":memory:");
  migrate(db, readMigrations(MIGRATIONS_DIR));
  return new Store(db);
}

const own = new StaticOwnAddresses(["203.0.113.1"]);

describe("Store.writeBatched (group commit)", () => {
  it("commits writes of one event-loop turn together, each with its own revision; a failing one rolls back alone", async () => {
    const store = openStore();
    const committed: number[] = [];
    store.on("committed", (revision) => committed.push(revision));
    const results = await Promise.allSettled([
      store.writeBatched("admin", (tx) => createEgressIp(tx, { address: "203.0.113.10" }, own)),
      store.writeBatched("admin", (tx) => createEgressIp(tx, { address: "203.0.113.1" }, own)),
      store.writeBatched("admin", (tx) => createEgressIp(tx, { address: "203.0.113.11" }, own)),
    ]);
    assert.equal(results[0]?.status, "fulfilled");
    assert.equal(results[2]?.status, "fulfilled");
    assert.equal(results[1]?.status, "rejected");
    assert.ok(results[1]?.status === "rejected" && results[1].reason instanceof AppError && results[1].reason.code === "validation-failed");
    const revisions = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.revision] : []));
    assert.deepEqual(revisions, [1, 2], "the failed write took no revision");
    assert.equal(store.revision(), 2);
    const addresses = (store.db.prepare("SELECT address FROM egress_ips ORDER BY address").all() as { address: string }[]).map((r) => r.address);
    assert.deepEqual(addresses, ["203.0.113.10", "203.0.113.11"]);
    const audit = store.db.prepare("SELECT revision, resource FROM audit_log ORDER BY id").all();
    assert.deepEqual(audit, [{ revision: 1, resource: "egress-ips/203.0.113.10" }, { revision: 2, resource: "egress-ips/203.0.113.11" }]);
    assert.deepEqual(committed, [2], "one announcement, with the newest revision, after the commit");
  });

  it("writes in different turns of the event loop commit separately", async () => {
    const store = openStore();
    const first = await store.writeBatched("admin", (tx) => createEgressIp(tx, { address: "203.0.113.10" }, own));
    const second = await store.writeBatched("admin", (tx) => createEgressIp(tx, { address: "203.0.113.11" }, own));
    assert.deepEqual([first.revision, second.revision], [1, 2]);
  });
});
