import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MIGRATIONS_DIR } from "../../../appliance/paths.js";
import { changelogTriggers } from "../../../appliance/store/changelog-triggers.js";
import { REPLICATED_TABLES, TABLES_BY_NAME } from "../../../appliance/store/replicated-tables.js";
import { readMigrations } from "../../../appliance/store/migrate.js";
import { openStore, primaryKeyOf, tableColumns } from "./replication-helpers.js";

/** The triggers a freshly migrated database holds, as SQLite keeps their text. */
const INSTALLED = (openStore().db.prepare("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all() as
  { name: string; tbl_name: string; sql: string }[]);

/** Tables that are deliberately local to one gateway. */
const LOCAL_TABLES = ["changelog", "owned_addresses", "replication_state", "revision", "revision_epochs", "schema_migrations", "sqlite_sequence"];

interface Pair {
  key: string;
  value: string;
}

interface ParsedTrigger {
  name: string;
  event: "INSERT" | "UPDATE" | "DELETE";
  table: string;
  tbl: string;
  op: string;
  pk: Pair[];
  row: Pair[] | null;
}

/** Splits json_object's argument list at top-level commas into ('key', value) pairs. */
function jsonObjectPairs(args: string): Pair[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of args) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current.trim());
      current = "";
    } else {
      current += ch;
    }
  }
  if (current.trim() !== "") parts.push(current.trim());
  assert.equal(parts.length % 2, 0, `json_object(${args}) has an odd number of arguments`);
  const pairs: Pair[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const key = /^'([a-z_]+)'$/.exec(parts[i] as string);
    assert.ok(key, `json_object key ${parts[i]} is not a quoted name`);
    pairs.push({ key: key[1] as string, value: parts[i + 1] as string });
  }
  return pairs;
}

/** The text between "json_object(" at `start` and its matching ")", and the index after it. */
function balanced(text: string, start: number): { inner: string; end: number } {
  const open = text.indexOf("(", start);
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "(") depth++;
    if (text[i] === ")") depth--;
    if (depth === 0) return { inner: text.slice(open + 1, i), end: i + 1 };
  }
  throw new Error("unbalanced parentheses");
}

function parseTriggers(sql: string): ParsedTrigger[] {
  const triggers: ParsedTrigger[] = [];
  const header = /CREATE TRIGGER (\w+) AFTER (INSERT|UPDATE|DELETE) ON (\w+) BEGIN\s+INSERT INTO changelog \(revision, tbl, op, pk, row\) VALUES \(\(SELECT value FROM revision WHERE id = 1\), '(\w+)', '(\w+)',\s*/g;
  for (let match = header.exec(sql); match; match = header.exec(sql)) {
    let rest = match.index + match[0].length;
    assert.ok(sql.startsWith("json_object(", rest), `${match[1]}: pk is not a json_object`);
    const pk = balanced(sql, rest);
    rest = pk.end;
    const comma = /^,\s*/.exec(sql.slice(rest));
    assert.ok(comma, `${match[1]}: no comma after pk`);
    rest += comma[0].length;
    let row: Pair[] | null = null;
    if (sql.startsWith("NULL", rest)) {
      rest += 4;
    } else {
      assert.ok(sql.startsWith("json_object(", rest), `${match[1]}: row is neither NULL nor a json_object`);
      const parsed = balanced(sql, rest);
      row = jsonObjectPairs(parsed.inner);
      rest = parsed.end;
    }
    assert.match(sql.slice(rest), /^\);\s*END;?/, `${match[1]}: unexpected text after the row`);
    triggers.push({
      name: match[1] as string, event: match[2] as ParsedTrigger["event"], table: match[3] as string,
      tbl: match[4] as string, op: match[5] as string, pk: jsonObjectPairs(pk.inner), row,
    });
  }
  return triggers;
}

/** Parsed on their own, so that a mistake in the generator cannot hide behind a comparison with itself. */
const TRIGGERS = INSTALLED.flatMap((trigger) => parseTriggers(trigger.sql));

/** The trigger events a table's spec promises. */
const eventsOf = (spec: (typeof REPLICATED_TABLES)[number]) => (spec.deletesStayLocal ? ["INSERT", "UPDATE"] : ["DELETE", "INSERT", "UPDATE"]);

describe("REPLICATED_TABLES against the changelog triggers a migrated database holds", () => {
  it("the parser understood every installed trigger", () => {
    assert.deepEqual(TRIGGERS.map((t) => t.name), INSTALLED.map((t) => t.name), "a trigger the parser did not understand would escape the comparison");
    assert.ok(TRIGGERS.length > 0);
  });

  it("they are exactly the generated ones, and no migration writes one by hand (REPLICATED_TABLES is the one source)", () => {
    const generated = changelogTriggers().sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(INSTALLED, generated.map((t) => ({ name: t.name, tbl_name: t.table, sql: t.sql })));
    for (const migration of readMigrations(MIGRATIONS_DIR)) assert.doesNotMatch(migration.sql, /CREATE TRIGGER|DROP TRIGGER/, migration.name);
  });

  it("every replicated table has exactly one AFTER INSERT, AFTER UPDATE and (unless its deletes stay local) AFTER DELETE trigger, and no other table has any", () => {
    const byTable = new Map<string, string[]>();
    for (const t of TRIGGERS) byTable.set(t.table, [...(byTable.get(t.table) ?? []), t.event]);
    assert.deepEqual([...byTable.keys()].sort(), REPLICATED_TABLES.map((s) => s.name).sort());
    for (const spec of REPLICATED_TABLES) assert.deepEqual(byTable.get(spec.name)?.sort(), eventsOf(spec), spec.name);
  });

  it("audit_log deletions stay local: retention prunes each gateway's copy without flooding the changelog", () => {
    assert.equal(TABLES_BY_NAME.get("audit_log")?.deletesStayLocal, true);
    assert.ok(!TRIGGERS.some((t) => t.table === "audit_log" && t.event === "DELETE"));
    const db = openStore().db;
    db.prepare("INSERT INTO audit_log (revision, at, actor, action, resource) VALUES (1, '2020-01-01T00:00:00.000Z', 'admin', 'create', 'x')").run();
    const before = (db.prepare("SELECT count(*) AS n FROM changelog").get() as { n: number }).n;
    db.prepare("DELETE FROM audit_log").run();
    assert.equal((db.prepare("SELECT count(*) AS n FROM changelog").get() as { n: number }).n, before);
  });

  for (const spec of REPLICATED_TABLES) {
    describe(spec.name, () => {
      const triggers = TRIGGERS.filter((t) => t.table === spec.name);

      it("each trigger logs under the table's own name, as upsert (insert/update) or delete", () => {
        assert.equal(triggers.length, eventsOf(spec).length);
        for (const t of triggers) {
          assert.equal(t.tbl, spec.name, t.name);
          assert.equal(t.op, t.event === "DELETE" ? "delete" : "upsert", t.name);
        }
      });

      it("the pk json is exactly the primary key, from NEW (insert/update) or OLD (delete)", () => {
        for (const t of triggers) {
          const ref = t.event === "DELETE" ? "OLD" : "NEW";
          assert.deepEqual(t.pk.map((p) => p.key), spec.primaryKey, t.name);
          for (const p of t.pk) {
            const expected = spec.blobs.includes(p.key) ? `hex(${ref}.${p.key})` : `${ref}.${p.key}`;
            assert.equal(p.value, expected, `${t.name}: pk ${p.key}`);
          }
        }
      });

      it("insert and update rows list exactly the spec's columns, each from its own NEW column, hex() exactly on the blobs; delete rows are NULL", () => {
        for (const t of triggers) {
          if (t.event === "DELETE") {
            assert.equal(t.row, null, t.name);
            continue;
          }
          assert.ok(t.row, t.name);
          const keys = t.row.map((p) => p.key);
          assert.equal(new Set(keys).size, keys.length, `${t.name}: a column is listed twice`);
          assert.deepEqual([...keys].sort(), [...spec.columns].sort(), `${t.name}: columns`);
          for (const p of t.row) {
            const expected = spec.blobs.includes(p.key) ? `hex(NEW.${p.key})` : `NEW.${p.key}`;
            assert.equal(p.value, expected, `${t.name}: ${p.key}`);
          }
          const hexed = t.row.filter((p) => p.value.startsWith("hex(")).map((p) => p.key).sort();
          assert.deepEqual(hexed, [...spec.blobs].sort(), `${t.name}: hex() columns`);
        }
      });
    });
  }
});

describe("REPLICATED_TABLES against the migrated schema", () => {
  const db = openStore().db;
  const allTables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);

  it("every table is either replicated or one of the known gateway-local tables", () => {
    const replicated = REPLICATED_TABLES.map((s) => s.name);
    assert.deepEqual(allTables.filter((t) => !replicated.includes(t)).sort(), [...LOCAL_TABLES].sort());
    for (const name of replicated) assert.ok(allTables.includes(name), `${name} exists`);
  });

  it("TABLES_BY_NAME indexes every spec", () => {
    assert.equal(TABLES_BY_NAME.size, REPLICATED_TABLES.length);
    for (const spec of REPLICATED_TABLES) assert.equal(TABLES_BY_NAME.get(spec.name), spec);
  });

  for (const spec of REPLICATED_TABLES) {
    it(`${spec.name}: same column set, same primary key, BLOB columns are the spec's blobs`, () => {
      const columns = tableColumns(db, spec.name);
      assert.deepEqual(columns.map((c) => c.name).sort(), [...spec.columns, ...(spec.localColumns ?? [])].sort(), "columns (replicated and local)");
      for (const local of spec.localColumns ?? []) assert.ok(!spec.columns.includes(local), `${local} is either replicated or local`);
      assert.equal(new Set(spec.columns).size, spec.columns.length, "no column listed twice in the spec");
      assert.deepEqual(primaryKeyOf(db, spec.name), spec.primaryKey, "primary key columns, in key order");
      assert.deepEqual(columns.filter((c) => c.type.toUpperCase() === "BLOB").map((c) => c.name).sort(), [...spec.blobs].sort(), "blob columns");
    });
  }

  it("lists parents before children (a snapshot inserts in this order with foreign keys on)", () => {
    const order = REPLICATED_TABLES.map((s) => s.name);
    for (const [index, spec] of REPLICATED_TABLES.entries()) {
      const parents = (db.prepare(`PRAGMA foreign_key_list(${spec.name})`).all() as { table: string }[]).map((f) => f.table);
      for (const parent of parents) {
        assert.ok(order.includes(parent), `${spec.name} references ${parent}, which is not replicated`);
        assert.ok(order.indexOf(parent) < index, `${spec.name} references ${parent}, which comes after it`);
      }
    }
  });
});
