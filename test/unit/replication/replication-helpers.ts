/**
 * Shared helpers for the replication unit tests: migrated in-memory stores, whole-table dumps for
 * comparing two gateways, and a realistic sequence of writes made through the service layer.
 * (No tests here: node --test loads this file and finds none.)
 */
import { putFloor, putPolicy } from "../../../appliance/service/policies.js";
import { MIGRATIONS_DIR } from "../../../appliance/paths.js";
import type { FollowerContext } from "../../../appliance/replication/follower.js";
import { PeerView } from "../../../appliance/replication/peer-view.js";
import { REPLICATED_TABLES } from "../../../appliance/store/replicated-tables.js";
import { createCluster, deleteCluster, replaceCluster } from "../../../appliance/service/clusters.js";
import { createEgressIp, deleteEgressIp, updateEgressIp } from "../../../appliance/service/egress-ips.js";
import { deleteMapping, replaceMappings } from "../../../appliance/service/mappings.js";
import { StaticOwnAddresses } from "../../../appliance/service/own-addresses.js";
import { replaceRoutes } from "../../../appliance/service/routes.js";
import { issueToken, revokeToken } from "../../../appliance/service/tokens.js";
import { openDatabase, type Db } from "../../../appliance/store/database.js";
import { migrate, readMigrations } from "../../../appliance/store/migrate.js";
import { Store, type WriteContext } from "../../../appliance/store/store.js";

const MIGRATIONS = readMigrations(MIGRATIONS_DIR);

/** A fresh, fully migrated in-memory store (foreign keys on, as in production). */
export function openStore(identity?: string): Store {
  const db = openDatabase(":memory:");
  migrate(db, MIGRATIONS);
  return new Store(db, identity);
}

export interface ColumnInfo {
  name: string;
  type: string;
  pk: number;
}

export function tableColumns(db: Db, table: string): ColumnInfo[] {
  return db.prepare(`PRAGMA table_info(${table})`).all() as ColumnInfo[];
}

export function primaryKeyOf(db: Db, table: string): string[] {
  return tableColumns(db, table).filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
}

/** Every row and every real column (SELECT *, not the spec's column list), BLOBs as Buffers, in primary-key order. */
export function dumpTable(db: Db, table: string): Record<string, unknown>[] {
  return db.prepare(`SELECT * FROM ${table} ORDER BY ${primaryKeyOf(db, table).join(", ")}`).all() as Record<string, unknown>[];
}

export function dumpReplicated(db: Db): Record<string, Record<string, unknown>[]> {
  return Object.fromEntries(REPLICATED_TABLES.map((spec) => [spec.name, dumpTable(db, spec.name)]));
}

export function countRows(db: Db, table: string): number {
  return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

export function revisionEpochRows(db: Db): { revision: number; epoch: number }[] {
  return db.prepare("SELECT revision, epoch FROM revision_epochs ORDER BY revision").all() as { revision: number; epoch: number }[];
}

export interface ChangelogRow {
  seq: number;
  revision: number;
  tbl: string;
  op: string;
  pk: string;
  row: string | null;
}

export function changelogRows(db: Db, revision?: number): ChangelogRow[] {
  return (revision === undefined
    ? db.prepare("SELECT seq, revision, tbl, op, pk, row FROM changelog ORDER BY seq").all()
    : db.prepare("SELECT seq, revision, tbl, op, pk, row FROM changelog WHERE revision = ? ORDER BY seq").all(revision)) as ChangelogRow[];
}

/** What travels over HTTP: JSON in, JSON out. */
export function overTheWire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export const OWN = new StaticOwnAddresses([]);

/** A follower's context as HaMode builds it, with `peer` the only gateway it accepts messages from. */
export function followerContext(name: string, peer: string, overrides: Partial<FollowerContext> = {}): FollowerContext {
  return {
    name, peer, isLeader: () => false, role: () => "backup", own: OWN, lastApply: () => undefined, peerView: new PeerView(), ...overrides,
  };
}

/** One write through the store's write path that must change something. */
export function mustWrite<T>(store: Store, change: (tx: WriteContext) => T, actor = "admin"): { result: T; revision: number } {
  const outcome = store.write(actor, change);
  if (!outcome.changed) throw new Error("the write was expected to change something");
  return { result: outcome.result, revision: outcome.revision };
}

export interface Step {
  name: string;
  run: (store: Store) => void;
}

const PROD_GRANTS = {
  sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"],
  excludableDestinations: ["10.0.0.0/8"], quotas: { routes: 50 },
};

/**
 * A realistic history, one store write per step: egress IPs, a cluster with ranges, tokens, two mapping
 * replacements (the second moves a source CIDR to another mapping name), a mapping delete, routes, a
 * description-only cluster update, and a second cluster with children deleted with cascade=true.
 * A factory because steps remember ids (tokens) of the store they ran on.
 */
export function workload(): Step[] {
  let prodToken = "";
  return [
    { name: "create egress IP 203.0.113.10", run: (s) => void mustWrite(s, (tx) => createEgressIp(tx, { address: "203.0.113.10", description: "primary \"eu\" \\ ü 🚀 (quotes, backslash and unicode cross the wire)" }, OWN)) },
    { name: "create egress IP 203.0.113.11", run: (s) => void mustWrite(s, (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN)) },
    { name: "create egress IP 2001:db8::10", run: (s) => void mustWrite(s, (tx) => createEgressIp(tx, { address: "2001:db8:0::10" }, OWN)) },
    { name: "create egress IP 203.0.113.12", run: (s) => void mustWrite(s, (tx) => createEgressIp(tx, { address: "203.0.113.12" }, OWN)) },
    {
      name: "create cluster prod with ranges and egress IPs",
      run: (s) => void mustWrite(s, (tx) => createCluster(tx, { name: "prod", description: "production", ...PROD_GRANTS })),
    },
    { name: "issue a prod token", run: (s) => { prodToken = mustWrite(s, (tx) => issueToken(tx, "prod", "ci")).result.id; } },
    {
      name: "replace prod mappings (first)",
      run: (s) => void mustWrite(s, (tx) => replaceMappings(tx, "prod", [
        { name: "a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", destinations: ["192.0.2.0/24"], labels: { team: "x", app: "a" } },
        { name: "b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11", excludedDestinations: ["10.0.0.0/8"] },
        { name: "v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" },
      ])),
    },
    {
      name: "replace prod mappings (second: a's source CIDR moves to a2, b changes egress IP, c is new)",
      run: (s) => void mustWrite(s, (tx) => replaceMappings(tx, "prod", [
        { name: "a2", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.11" },
        { name: "b", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.10", excludedDestinations: ["10.0.0.0/8"] },
        { name: "v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" },
        { name: "c", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.10", labels: { tier: "batch" } },
      ])),
    },
    { name: "delete prod mapping c", run: (s) => void mustWrite(s, (tx) => deleteMapping(tx, "prod", "c")) },
    {
      name: "replace prod routes",
      run: (s) => void mustWrite(s, (tx) => replaceRoutes(tx, "prod", [
        { prefix: "10.244.0.0/16", via: "172.31.0.11" }, { prefix: "fd00:10:244::/48", via: "fe80::11" },
      ], OWN)),
    },
    {
      name: "set prod's default policy, mapping b's own, and the floors",
      run: (s) => void mustWrite(s, (tx) => {
        putPolicy(tx, "prod", null, { mode: "audit", rules: [{ destinations: [{ name: "api.example.com" }], protocol: "tcp", ports: [{ port: 443 }] }] });
        putPolicy(tx, "prod", "b", { rules: [{ description: "ü 🚀", destinations: [{ cidr: "198.51.100.0/24", except: ["198.51.100.128/25"] }], protocol: "udp", ports: [{ port: 53 }] }] });
        putFloor(tx, null, { rules: [{ destinations: [{ cidr: "169.254.0.0/16" }] }] });
        putFloor(tx, "prod", { rules: [{ destinations: [{ cidr: "192.0.2.0/24" }], protocol: "tcp", ports: [{ port: 25 }] }] });
      }),
    },
    {
      name: "update prod's description only",
      run: (s) => void mustWrite(s, (tx) => replaceCluster(tx, { name: "prod", description: "production (eu)", ...PROD_GRANTS })),
    },
    {
      name: "create cluster staging",
      run: (s) => void mustWrite(s, (tx) => createCluster(tx, { name: "staging", sourceRanges: ["10.245.0.0/16"], egressIps: ["203.0.113.12"] })),
    },
    { name: "issue a staging token", run: (s) => void mustWrite(s, (tx) => issueToken(tx, "staging", "deploy")) },
    {
      name: "replace staging mappings",
      run: (s) => void mustWrite(s, (tx) => replaceMappings(tx, "staging", [{ name: "s1", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.12" }])),
    },
    {
      name: "replace staging routes",
      run: (s) => void mustWrite(s, (tx) => replaceRoutes(tx, "staging", [{ prefix: "10.245.0.0/16", via: "172.31.0.12" }], OWN)),
    },
    { name: "delete cluster staging with cascade", run: (s) => void mustWrite(s, (tx) => deleteCluster(tx, "staging", true)) },
    { name: "delete egress IP 203.0.113.12", run: (s) => void mustWrite(s, (tx) => deleteEgressIp(tx, "203.0.113.12")) },
    { name: "revoke the prod token", run: (s) => void mustWrite(s, (tx) => revokeToken(tx, "prod", prodToken)) },
    { name: "update an egress IP's description", run: (s) => void mustWrite(s, (tx) => updateEgressIp(tx, "203.0.113.11", { description: "secondary" })) },
  ];
}

/** Runs the whole workload on a store; returns its final revision. */
export function runWorkload(store: Store, steps: Step[] = workload()): number {
  for (const step of steps) step.run(store);
  return store.revision();
}
