import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { beforeEach, describe, it } from "node:test";
import { AppError } from "../../../appliance/errors.js";
import { parsePrefix } from "../../../appliance/net/cidr.js";
import { createCluster } from "../../../appliance/service/clusters.js";
import { createEgressIp } from "../../../appliance/service/egress-ips.js";
import {
  assertStoreInvariants, emptyScope, findViolation, fullScope, observeChange, STORE_RULES, type InvariantRule, type InvariantScope,
} from "../../../appliance/service/invariants/index.js";
import { StaticOwnAddresses, type OwnAddresses } from "../../../appliance/service/own-addresses.js";
import type { Db } from "../../../appliance/store/database.js";
import { rangeColumns } from "../../../appliance/store/range-columns.js";
import type { Store } from "../../../appliance/store/store.js";
import { mustWrite, openStore, OWN, runWorkload } from "../replication/replication-helpers.js";

const NOW = "2026-12-02T10:00:00.000Z";

/** A range's columns as the store writes them, for rows planted with SQL. */
function range(cidr: string): [number, Buffer, Buffer] {
  const r = rangeColumns(parsePrefix(cidr, "cidr"));
  return [r.family, r.start, r.end];
}

function insertMappingRow(db: Db, cluster: string, name: string, cidr: string, egressIp: string): void {
  db.prepare(`INSERT INTO mappings (cluster, name, source_cidr, family, range_start, range_end, egress_ip, destinations, excluded_destinations, labels, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, '[]', '[]', '{}', ?, ?)`).run(cluster, name, cidr, ...range(cidr), egressIp, NOW, NOW);
}

function setMappingSource(db: Db, name: string, cidr: string): void {
  db.prepare("UPDATE mappings SET source_cidr = ?, family = ?, range_start = ?, range_end = ? WHERE name = ?").run(cidr, ...range(cidr), name);
}

/** A second tenant, through the service layer: cluster other, 10.250.0.0/16, egress IP 203.0.113.20. */
function otherTenant(store: Store): void {
  mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.20" }, OWN));
  mustWrite(store, (tx) => createCluster(tx, { name: "other", sourceRanges: ["10.250.0.0/16"], egressIps: ["203.0.113.20"] }));
}

interface Forgery {
  what: string;
  rule: string;
  table: string;
  key: Record<string, unknown>;
  forge: (store: Store) => void;
  own?: OwnAddresses;
  detail?: RegExp;
}

/**
 * One row broken per case, directly in SQLite, the way a forged snapshot or change would leave it. The
 * store otherwise holds the replication workload, which passes every rule (checked first).
 */
const FORGERIES: Forgery[] = [
  {
    what: "an egress IP not in canonical form", rule: "egress-ip-valid", table: "egress_ips", key: { address: "2001:db8:0:0::99" }, detail: /canonical/,
    forge: (s) => void s.db.prepare("INSERT INTO egress_ips VALUES ('2001:db8:0:0::99', 6, '', ?, ?)").run(NOW, NOW),
  },
  {
    what: "a multicast egress IP", rule: "egress-ip-valid", table: "egress_ips", key: { address: "224.0.0.5" }, detail: /multicast/,
    forge: (s) => void s.db.prepare("INSERT INTO egress_ips VALUES ('224.0.0.5', 4, '', ?, ?)").run(NOW, NOW),
  },
  {
    what: "an egress IP whose family column lies", rule: "egress-ip-valid", table: "egress_ips", key: { address: "203.0.113.99" }, detail: /family/,
    forge: (s) => void s.db.prepare("INSERT INTO egress_ips VALUES ('203.0.113.99', 6, '', ?, ?)").run(NOW, NOW),
  },
  {
    what: "an egress IP that is this gateway's own address", rule: "egress-ip-valid", table: "egress_ips", key: { address: "203.0.113.11" },
    own: new StaticOwnAddresses(["203.0.113.11"]), detail: /address of this gateway/, forge: () => undefined,
  },
  {
    what: "an egress IP description with a control character", rule: "egress-ip-valid", table: "egress_ips", key: { address: "203.0.113.11" },
    detail: /description/, forge: (s) => void s.db.prepare("UPDATE egress_ips SET description = 'a\nb' WHERE address = '203.0.113.11'").run(),
  },
  {
    what: "a timestamp that is not one", rule: "egress-ip-valid", table: "egress_ips", key: { address: "203.0.113.11" }, detail: /created_at/,
    forge: (s) => void s.db.prepare("UPDATE egress_ips SET created_at = 'yesterday' WHERE address = '203.0.113.11'").run(),
  },
  {
    what: "a cluster name that is not a DNS label", rule: "cluster-valid", table: "clusters", key: { name: "Evil_Cluster" }, detail: /DNS label/,
    forge: (s) => void s.db.prepare("INSERT INTO clusters (name, description, created_at, updated_at) VALUES ('Evil_Cluster', '', ?, ?)").run(NOW, NOW),
  },
  {
    what: "an exclusion grant with overlapping prefixes", rule: "cluster-valid", table: "clusters", key: { name: "prod" }, detail: /overlaps/,
    forge: (s) => void s.db.prepare(`UPDATE clusters SET excludable_destinations = '["10.0.0.0/8","10.1.0.0/16"]' WHERE name = 'prod'`).run(),
  },
  {
    what: "an exclusion grant that is not a list of prefixes", rule: "cluster-valid", table: "clusters", key: { name: "prod" }, detail: /excludable/,
    forge: (s) => void s.db.prepare(`UPDATE clusters SET excludable_destinations = '["0.0.0.0/0", 7]' WHERE name = 'prod'`).run(),
  },
  {
    what: "a source range with host bits set", rule: "source-range-valid", table: "cluster_source_ranges", key: { cidr: "10.245.0.1/16" }, detail: /host bits/,
    forge: (s) => void s.db.prepare("INSERT INTO cluster_source_ranges VALUES ('prod', '10.245.0.1/16', ?, ?, ?)").run(...range("10.245.0.0/16")),
  },
  {
    what: "a source range whose range columns describe another range", rule: "source-range-valid", table: "cluster_source_ranges", key: { cidr: "10.246.0.0/16" },
    detail: /range_start/, forge: (s) => void s.db.prepare("INSERT INTO cluster_source_ranges VALUES ('prod', '10.246.0.0/16', ?, ?, ?)").run(...range("10.247.0.0/16")),
  },
  {
    what: "a source range inside another cluster's", rule: "source-ranges-disjoint", table: "cluster_source_ranges", key: { cidr: "10.244.5.0/24" },
    detail: /overlaps 10\.244\.0\.0\/16 of cluster prod/,
    forge: (s) => {
      otherTenant(s);
      s.db.prepare("INSERT INTO cluster_source_ranges VALUES ('other', '10.244.5.0/24', ?, ?, ?)").run(...range("10.244.5.0/24"));
    },
  },
  {
    what: "a token hash that is not 32 bytes (a hash of the attacker's choice)", rule: "token-valid", table: "tokens", key: {}, detail: /32-byte/,
    forge: (s) => void s.db.prepare("UPDATE tokens SET hash = ?").run(randomBytes(16)),
  },
  {
    what: "a token id the API never issues", rule: "token-valid", table: "tokens", key: { id: "../../etc" }, detail: /12 hex/,
    forge: (s) => void s.db.prepare("INSERT INTO tokens VALUES ('../../etc', 'prod', '', ?, ?, NULL)").run(randomBytes(32), NOW),
  },
  {
    what: "a mapping to another tenant's egress IP", rule: "mapping-valid", table: "mappings", key: { cluster: "prod", name: "b" }, detail: /not one cluster prod may use/,
    forge: (s) => {
      otherTenant(s);
      s.db.prepare("UPDATE mappings SET egress_ip = '203.0.113.20' WHERE name = 'b'").run();
    },
  },
  {
    what: "a mapping outside its cluster's source ranges", rule: "mapping-valid", table: "mappings", key: { cluster: "prod", name: "b" }, detail: /not inside the source ranges/,
    forge: (s) => setMappingSource(s.db, "b", "10.99.0.0/26"),
  },
  {
    what: "a mapping whose egress IP is of the other family", rule: "mapping-valid", table: "mappings", key: { cluster: "prod", name: "v6" }, detail: /IPv4 egress IP for an IPv6/,
    forge: (s) => void s.db.prepare("UPDATE mappings SET egress_ip = '203.0.113.10' WHERE name = 'v6'").run(),
  },
  {
    what: "a mapping whose destination list is not canonical", rule: "mapping-valid", table: "mappings", key: { cluster: "prod", name: "b" }, detail: /destinations/,
    forge: (s) => void s.db.prepare("UPDATE mappings SET destinations = '[\"192.0.2.0/24\",\"192.0.2.0/24\"]' WHERE name = 'b'").run(),
  },
  {
    what: "a mapping excluding destinations of the other family", rule: "mapping-valid", table: "mappings", key: { cluster: "prod", name: "b" }, detail: /IPv6 prefix for an IPv4/,
    forge: (s) => void s.db.prepare("UPDATE mappings SET excluded_destinations = '[\"2001:db8::/32\"]' WHERE name = 'b'").run(),
  },
  {
    what: "a mapping whose labels are not JSON", rule: "mapping-valid", table: "mappings", key: { cluster: "prod", name: "b" }, detail: /labels is not well-formed JSON/,
    forge: (s) => void s.db.prepare("UPDATE mappings SET labels = '{' WHERE name = 'b'").run(),
  },
  {
    what: "a mapping whose range columns do not match its source", rule: "mapping-valid", table: "mappings", key: { cluster: "prod", name: "b" }, detail: /range_end/,
    forge: (s) => void s.db.prepare("UPDATE mappings SET range_end = ? WHERE name = 'b'").run(range("10.244.1.64/27")[2]),
  },
  {
    what: "a mapping name that is not a DNS label", rule: "mapping-valid", table: "mappings", key: { cluster: "prod", name: "Bad Name" }, detail: /name/,
    forge: (s) => void s.db.prepare("UPDATE mappings SET name = 'Bad Name' WHERE name = 'b'").run(),
  },
  {
    what: "two mappings that overlap", rule: "mappings-disjoint", table: "mappings", key: { cluster: "prod", name: "dup" }, detail: /overlaps 10\.244\.1\.0\/26/,
    forge: (s) => insertMappingRow(s.db, "prod", "dup", "10.244.1.32/27", "203.0.113.10"),
  },
  {
    what: "a route with a multicast next hop", rule: "route-valid", table: "routes", key: { cluster: "prod", prefix: "10.244.0.0/16" }, detail: /multicast/,
    forge: (s) => void s.db.prepare("UPDATE routes SET via = '224.0.0.1' WHERE prefix = '10.244.0.0/16'").run(),
  },
  {
    what: "a route via this gateway's own address", rule: "route-valid", table: "routes", key: { cluster: "prod", prefix: "10.244.0.0/16" },
    own: new StaticOwnAddresses(["172.31.0.11"]), detail: /address of this gateway/, forge: () => undefined,
  },
  {
    what: "a route outside its cluster's source ranges", rule: "route-valid", table: "routes", key: { cluster: "prod", prefix: "10.98.0.0/16" }, detail: /not inside the source ranges/,
    forge: (s) => void s.db.prepare("INSERT INTO routes VALUES ('prod', '10.98.0.0/16', ?, ?, ?, '172.31.0.11', ?, ?)").run(...range("10.98.0.0/16"), NOW, NOW),
  },
  {
    what: "two routes that overlap", rule: "routes-disjoint", table: "routes", key: { cluster: "prod", prefix: "10.244.7.0/24" }, detail: /overlaps 10\.244\.0\.0\/16/,
    forge: (s) => void s.db.prepare("INSERT INTO routes VALUES ('prod', '10.244.7.0/24', ?, ?, ?, '172.31.0.12', ?, ?)").run(...range("10.244.7.0/24"), NOW, NOW),
  },
  {
    what: "an audit record whose before is not JSON", rule: "audit-record-valid", table: "audit_log", key: { id: 1 }, detail: /before is not well-formed JSON/,
    forge: (s) => void s.db.prepare("UPDATE audit_log SET before = '{oops' WHERE id = 1").run(),
  },
];

describe("store invariants", () => {
  let store: Store;

  beforeEach(() => {
    store = openStore();
    runWorkload(store);
  });

  it("a store written through the service layer breaks no rule", () => {
    assert.equal(findViolation(store.db, fullScope(), OWN), undefined);
    assert.doesNotThrow(() => assertStoreInvariants(store.db, fullScope(), OWN));
  });

  for (const forgery of FORGERIES) {
    it(`${forgery.what}: rule ${forgery.rule}, naming the row`, () => {
      forgery.forge(store);
      const violation = findViolation(store.db, fullScope(), forgery.own ?? OWN);
      assert.ok(violation, "a violation is found");
      assert.equal(violation.rule, forgery.rule, violation.detail);
      assert.equal(violation.table, forgery.table);
      for (const [column, value] of Object.entries(forgery.key)) assert.equal(violation.key[column], value, `key ${column}`);
      if (forgery.detail) assert.match(violation.detail, forgery.detail);
    });
  }

  it("assertStoreInvariants throws replication-refused (422) naming the rule, the table and the row", () => {
    insertMappingRow(store.db, "prod", "dup", "10.244.1.32/27", "203.0.113.10");
    assert.throws(() => assertStoreInvariants(store.db, fullScope(), OWN), (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, "replication-refused");
      assert.equal(error.status, 422);
      assert.deepEqual(error.extra, { rule: "mappings-disjoint", table: "mappings", key: { cluster: "prod", name: "dup" } });
      assert.match(error.message, /rule mappings-disjoint broken by mappings \{"cluster":"prod","name":"dup"\}/);
      return true;
    });
  });

  it("a new rule plugs in beside the built-in ones (e.g. a quota)", () => {
    const quota: InvariantRule = {
      name: "mappings-quota", table: "clusters",
      check: (ctx) => {
        const n = (ctx.db.prepare("SELECT count(*) AS n FROM mappings WHERE cluster = 'prod'").get() as { n: number }).n;
        return n > 2 ? { rule: "mappings-quota", table: "clusters", key: { name: "prod" }, detail: `${n} mappings, quota 2` } : undefined;
      },
    };
    assert.equal(findViolation(store.db, fullScope(), OWN), undefined);
    assert.equal(findViolation(store.db, fullScope(), OWN, [...STORE_RULES, quota])?.rule, "mappings-quota");
  });

  describe("scoped to what a change touched", () => {
    const scopeOf = (entries: [table: string, pk: Record<string, unknown>, row: Record<string, unknown> | null][]): InvariantScope => {
      const scope = emptyScope();
      for (const [table, pk, row] of entries) observeChange(store.db, scope, table, pk, row);
      return scope;
    };

    it("checks the rows written, not the whole store", () => {
      // A broken row elsewhere in the store is not looked at when a change touched only mapping a2.
      store.db.prepare("INSERT INTO egress_ips VALUES ('224.0.0.5', 4, '', ?, ?)").run(NOW, NOW);
      const scope = scopeOf([["mappings", { cluster: "prod", name: "a2" }, null]]);
      assert.equal(findViolation(store.db, scope, OWN), undefined);
      assert.equal(findViolation(store.db, fullScope(), OWN)?.rule, "egress-ip-valid");
    });

    it("a touched row that breaks a rule is found", () => {
      setMappingSource(store.db, "a2", "10.99.0.0/26");
      const scope = scopeOf([["mappings", { cluster: "prod", name: "a2" }, null]]);
      assert.equal(findViolation(store.db, scope, OWN)?.rule, "mapping-valid");
    });

    it("a cluster's source ranges changing re-checks that cluster's mappings and routes (read before the range goes)", () => {
      const scope = emptyScope();
      // The range's owner is read before the change is applied: after it, the row is gone.
      observeChange(store.db, scope, "cluster_source_ranges", { cidr: "10.244.0.0/16" }, null);
      store.db.prepare("DELETE FROM cluster_source_ranges WHERE cidr = '10.244.0.0/16'").run();
      assert.deepEqual([...scope.rangesBefore.keys()], ["prod"]);
      assert.equal(findViolation(store.db, scope, OWN)?.rule, "mapping-valid", "mappings a2 and b are no longer inside prod's ranges");
    });

    it("a PUT of a cluster that rewrites its ranges and grants unchanged re-checks none of its mappings", () => {
      // replaceCluster deletes and re-inserts every range and grant: rows written, nothing taken away.
      setMappingSource(store.db, "b", "10.99.0.0/26"); // planted: would break mapping-valid if looked at
      const scope = emptyScope();
      for (const cidr of ["10.244.0.0/16", "fd00:10:244::/48"]) observeChange(store.db, scope, "cluster_source_ranges", { cidr }, null);
      for (const address of ["203.0.113.10", "203.0.113.11"]) observeChange(store.db, scope, "cluster_egress_ips", { address }, null);
      store.db.transaction(() => {
        const ranges = store.db.prepare("SELECT * FROM cluster_source_ranges").all() as Record<string, unknown>[];
        const grants = store.db.prepare("SELECT * FROM cluster_egress_ips").all() as Record<string, unknown>[];
        store.db.prepare("DELETE FROM cluster_egress_ips").run();
        store.db.prepare("DELETE FROM cluster_source_ranges").run();
        for (const r of ranges) store.db.prepare("INSERT INTO cluster_source_ranges VALUES (?, ?, ?, ?, ?)").run(r["cluster"], r["cidr"], r["family"], r["range_start"], r["range_end"]);
        for (const g of grants) store.db.prepare("INSERT INTO cluster_egress_ips VALUES (?, ?)").run(g["address"], g["cluster"]);
      })();
      assert.equal(findViolation(store.db, scope, OWN), undefined);
      assert.equal(findViolation(store.db, fullScope(), OWN)?.rule, "mapping-valid", "the planted row is there");
    });

    it("an egress IP's grant changing re-checks the mappings that use it", () => {
      otherTenant(store);
      const scope = emptyScope();
      observeChange(store.db, scope, "cluster_egress_ips", { address: "203.0.113.11" }, { address: "203.0.113.11", cluster: "other" });
      store.db.prepare("UPDATE cluster_egress_ips SET cluster = 'other' WHERE address = '203.0.113.11'").run();
      const violation = findViolation(store.db, scope, OWN);
      assert.equal(violation?.rule, "mapping-valid");
      assert.deepEqual(violation?.key, { cluster: "prod", name: "a2" });
    });

    it("an overlap is found through the neighbours of the rows written, even when the overlapped row is not adjacent", () => {
      // Untouched 10.244.8.0/22 (the store was valid before the change); the change wrote 10.244.9.0/24 and
      // 10.244.11.0/24, both inside it. The second's neighbour is the first, which it does not overlap; but
      // whenever a written row overlaps an earlier one, some adjacent pair up to it overlaps, and one row of
      // that pair was written: here the first, whose neighbour is the wide one.
      store.db.prepare("DELETE FROM mappings").run();
      insertMappingRow(store.db, "prod", "wide", "10.244.8.0/22", "203.0.113.10");
      insertMappingRow(store.db, "prod", "left", "10.244.9.0/24", "203.0.113.10");
      insertMappingRow(store.db, "prod", "right", "10.244.11.0/24", "203.0.113.10");
      const both = scopeOf([["mappings", { cluster: "prod", name: "right" }, null], ["mappings", { cluster: "prod", name: "left" }, null]]);
      const violation = findViolation(store.db, both, OWN);
      assert.equal(violation?.rule, "mappings-disjoint");
      assert.match(violation?.detail ?? "", /10\.244\.9\.0\/24 .* overlaps 10\.244\.8\.0\/22/);
      const untouched = scopeOf([["mappings", { cluster: "prod", name: "wide" }, null]]);
      assert.equal(findViolation(store.db, untouched, OWN)?.rule, "mappings-disjoint", "the wide row's own successor is left");
    });
  });
});
