import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePrefix } from "../../appliance/net/cidr.js";
import { MIGRATIONS_DIR } from "../../appliance/paths.js";
import { openDatabase } from "../../appliance/store/database.js";
import { migrate, readMigrations } from "../../appliance/store/migrate.js";
import { listMappings } from "../../appliance/store/reads.js";
import { insertMapping } from "../../appliance/store/rows.js";

describe("mappings read from the store share their empty lists and labels", () => {
  it("gives equal mappings whose shared empty values cannot be changed through one of them", () => {
    const db = openDatabase(":memory:");
    migrate(db, readMigrations(MIGRATIONS_DIR));
    db.prepare("INSERT INTO clusters (name, created_at, updated_at) VALUES ('c1', '', '')").run();
    db.prepare("INSERT INTO egress_ips (address, family, created_at, updated_at) VALUES ('203.0.113.10', 4, '', '')").run();
    const now = new Date().toISOString();
    for (const [name, cidr, destinations] of [["a", "10.0.0.0/30", []], ["b", "10.0.0.4/30", ["192.0.2.0/24"]], ["c", "10.0.0.8/30", []]] as [string, string, string[]][]) {
      insertMapping(db, { cluster: "c1", name, sourceCidr: cidr, egressIp: "203.0.113.10", destinations: [...destinations], excludedDestinations: [], labels: name === "c" ? { app: "x" } : {} }, parsePrefix(cidr, "sourceCidr"), now);
    }
    const [a, b, c] = listMappings(db, "c1");
    assert.throws(() => a?.destinations.push("198.51.100.0/24"), TypeError);
    assert.deepEqual(a, { cluster: "c1", name: "a", sourceCidr: "10.0.0.0/30", egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: {} });
    assert.deepEqual(b?.destinations, ["192.0.2.0/24"]);
    assert.deepEqual(c?.labels, { app: "x" });
    assert.deepEqual(c?.destinations, [], "the other mappings' empty list is untouched");
    db.close();
  });
});
