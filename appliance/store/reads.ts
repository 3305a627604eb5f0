import type { Cluster, EgressIp, EgressPolicy, FloorRule, Mapping, PolicyFloor, Quotas, Route, StoredPolicy, TokenInfo } from "../model.js";
import type { Prefix } from "../net/cidr.js";
import { sql, type Db } from "./database.js";
import { rangeColumns } from "./range-columns.js";

/**
 * The read side of the configuration: every query the API, the services and the reconciler make of it,
 * answered in the model's types. Writes are in rows.ts, and only the service layer calls them.
 */

// ---- egress IPs -------------------------------------------------------------------------------------------

interface EgressIpRow { address: string; family: 4 | 6; description: string; cluster: string | null }

const EGRESS_IP_SELECT = `SELECT e.address, e.family, e.description, g.cluster
  FROM egress_ips e LEFT JOIN cluster_egress_ips g ON g.address = e.address`;

export function listEgressIps(db: Db): EgressIp[] {
  return sql(db, `${EGRESS_IP_SELECT} ORDER BY e.family, e.address`).all() as EgressIpRow[];
}

export function getEgressIp(db: Db, address: string): EgressIp | undefined {
  return sql(db, `${EGRESS_IP_SELECT} WHERE e.address = ?`).get(address) as EgressIpRow | undefined;
}

// ---- clusters ---------------------------------------------------------------------------------------------

export function listClusterNames(db: Db): string[] {
  return (sql(db, "SELECT name FROM clusters ORDER BY name").all() as { name: string }[]).map((r) => r.name);
}

interface ClusterRow {
  name: string; description: string; excludable_destinations: string;
  quota_mappings: number | null; quota_routes: number | null; quota_destinations: number | null;
}

export function getCluster(db: Db, name: string): Cluster | undefined {
  const row = sql(db, `SELECT name, description, excludable_destinations, quota_mappings, quota_routes, quota_destinations
    FROM clusters WHERE name = ?`).get(name) as ClusterRow | undefined;
  if (!row) return undefined;
  const sourceRanges = listClusterSourceRanges(db, name);
  const egressIps = (sql(db, 
    "SELECT g.address FROM cluster_egress_ips g JOIN egress_ips e ON e.address = g.address WHERE g.cluster = ? ORDER BY e.family, g.address")
    .all(name) as { address: string }[]).map((r) => r.address);
  const quotas: Cluster["quotas"] = {
    ...(row.quota_mappings === null ? {} : { mappings: row.quota_mappings }),
    ...(row.quota_routes === null ? {} : { routes: row.quota_routes }),
    ...(row.quota_destinations === null ? {} : { destinations: row.quota_destinations }),
  };
  return {
    name: row.name, description: row.description, sourceRanges, egressIps,
    excludableDestinations: JSON.parse(row.excludable_destinations) as string[], quotas,
  };
}

/** What a cluster holds, counted the way its quotas count it. */
export function clusterUsage(db: Db, cluster: string): Quotas {
  const mappings = sql(db, `SELECT count(*) AS n,
      coalesce(sum(json_array_length(destinations) + json_array_length(excluded_destinations)), 0) AS destinations
    FROM mappings WHERE cluster = ?`).get(cluster) as { n: number; destinations: number };
  const routes = (sql(db, "SELECT count(*) AS n FROM routes WHERE cluster = ?").get(cluster) as { n: number }).n;
  return { mappings: mappings.n, routes, destinations: mappings.destinations };
}

/**
 * The existing range (of `table`) that overlaps `prefix`, if any. Ranges in each table are disjoint, so
 * the only candidate is the one with the greatest start not after the new range's end.
 */
export function findOverlappingRange(
  db: Db,
  table: "cluster_source_ranges" | "mappings" | "routes",
  prefix: Prefix,
): { cluster: string; cidr: string; name?: string } | undefined {
  const column = { cluster_source_ranges: "cidr", mappings: "source_cidr", routes: "prefix" }[table];
  const nameColumn = table === "mappings" ? ", name" : "";
  const range = rangeColumns(prefix);
  const row = sql(db, `SELECT cluster, ${column} AS cidr, range_end${nameColumn} FROM ${table}
    WHERE family = ? AND range_start <= ? ORDER BY range_start DESC LIMIT 1`).get(range.family, range.end) as
    { cluster: string; cidr: string; range_end: Buffer; name?: string } | undefined;
  if (!row || Buffer.compare(row.range_end, range.start) < 0) return undefined;
  return { cluster: row.cluster, cidr: row.cidr, ...(row.name === undefined ? {} : { name: row.name }) };
}

/** One cluster's source ranges, in address order. */
export function listClusterSourceRanges(db: Db, cluster: string): string[] {
  return (sql(db, "SELECT cidr FROM cluster_source_ranges WHERE cluster = ? ORDER BY family, range_start")
    .all(cluster) as { cidr: string }[]).map((r) => r.cidr);
}

/** The cluster a source range belongs to, if the range exists. */
export function sourceRangeOwner(db: Db, cidr: unknown): string | undefined {
  return (sql(db, "SELECT cluster FROM cluster_source_ranges WHERE cidr = ?").get(cidr) as { cluster: string } | undefined)?.cluster;
}

/** The cluster an egress IP is granted to, or null. */
export function egressIpGrant(db: Db, address: string): string | null {
  return (sql(db, "SELECT cluster FROM cluster_egress_ips WHERE address = ?").get(address) as { cluster: string } | undefined)?.cluster ?? null;
}

/** Every cluster's source ranges, in address order within each cluster. */
export function listSourceRanges(db: Db): { cluster: string; cidr: string }[] {
  return sql(db, "SELECT cluster, cidr FROM cluster_source_ranges ORDER BY cluster, family, range_start").all() as { cluster: string; cidr: string }[];
}

/** How many mappings and routes one cluster has (its status). */
export function countClusterItems(db: Db, cluster: string): { mappings: number; routes: number } {
  const count = (table: "mappings" | "routes") => (sql(db, `SELECT count(*) AS n FROM ${table} WHERE cluster = ?`).get(cluster) as { n: number }).n;
  return { mappings: count("mappings"), routes: count("routes") };
}

/** How many of each the store holds (the daemon's metrics). */
export function countAll(db: Db): { mappings: number; routes: number; egressIps: number; clusters: number } {
  const count = (table: "mappings" | "routes" | "egress_ips" | "clusters") => (sql(db, `SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  return { mappings: count("mappings"), routes: count("routes"), egressIps: count("egress_ips"), clusters: count("clusters") };
}

// ---- tokens -----------------------------------------------------------------------------------------------

interface TokenRow { id: string; cluster: string; description: string; created_at: string; revoked_at: string | null }

function tokenInfo(row: TokenRow): TokenInfo {
  return { id: row.id, cluster: row.cluster, description: row.description, createdAt: row.created_at, revokedAt: row.revoked_at };
}

export function listTokens(db: Db, cluster: string): TokenInfo[] {
  return (sql(db, "SELECT id, cluster, description, created_at, revoked_at FROM tokens WHERE cluster = ? ORDER BY created_at, id")
    .all(cluster) as TokenRow[]).map(tokenInfo);
}

export function getToken(db: Db, cluster: string, id: string): TokenInfo | undefined {
  const row = sql(db, "SELECT id, cluster, description, created_at, revoked_at FROM tokens WHERE cluster = ? AND id = ?")
    .get(cluster, id) as TokenRow | undefined;
  return row && tokenInfo(row);
}

export function findActiveTokenByHash(db: Db, hash: Buffer): { id: string; cluster: string; hash: Buffer } | undefined {
  return sql(db, "SELECT id, cluster, hash FROM tokens WHERE hash = ? AND revoked_at IS NULL").get(hash) as
    { id: string; cluster: string; hash: Buffer } | undefined;
}

// ---- mappings ---------------------------------------------------------------------------------------------

interface MappingRow {
  cluster: string; name: string; source_cidr: string; egress_ip: string;
  destinations: string; excluded_destinations: string; labels: string;
}

const MAPPING_SELECT = "SELECT cluster, name, source_cidr, egress_ip, destinations, excluded_destinations, labels FROM mappings";

/**
 * Most mappings have no destinations, no exclusions and no labels: they share one frozen empty list and one
 * frozen empty label set instead of three objects of their own each (≈10 MB at 100k mappings, held by the
 * data plane's last-good state). Frozen: a caller that tried to change one in place would throw, not corrupt
 * every other mapping.
 */
const NO_PREFIXES = Object.freeze([]) as readonly string[] as string[];
const NO_LABELS = Object.freeze({}) as Record<string, string>;
const prefixList = (text: string): string[] => (text === "[]" ? NO_PREFIXES : JSON.parse(text) as string[]);

/** `same` returns one copy of each repeated value (a cluster's name, an egress IP) instead of one string per row. */
function mappingFromRow(row: MappingRow, same: (text: string) => string = (text) => text): Mapping {
  return {
    cluster: same(row.cluster),
    name: row.name,
    sourceCidr: row.source_cidr,
    egressIp: same(row.egress_ip),
    destinations: prefixList(row.destinations),
    excludedDestinations: prefixList(row.excluded_destinations),
    labels: row.labels === "{}" ? NO_LABELS : JSON.parse(row.labels) as Record<string, string>,
  };
}

/** Many mappings at once, row by row (not all rows first, then all mappings), with their repeated values shared. */
function mappingsOf(rows: IterableIterator<unknown>): Mapping[] {
  const seen = new Map<string, string>();
  const same = (text: string) => {
    const known = seen.get(text);
    if (known !== undefined) return known;
    seen.set(text, text);
    return text;
  };
  const mappings: Mapping[] = [];
  for (const row of rows) mappings.push(mappingFromRow(row as MappingRow, same));
  return mappings;
}

export function listMappings(db: Db, cluster?: string): Mapping[] {
  return mappingsOf(cluster === undefined
    ? sql(db, `${MAPPING_SELECT} ORDER BY family, range_start`).iterate()
    : sql(db, `${MAPPING_SELECT} WHERE cluster = ? ORDER BY name`).iterate(cluster));
}

/**
 * Which mappings exist (cluster and name only), in listMappings' order: for callers that need no more, since
 * 100k full mappings (parsed lists and labels) are ≈28 MB of objects.
 */
export function listMappingKeys(db: Db, cluster?: string): { cluster: string; name: string }[] {
  return (cluster === undefined
    ? sql(db, "SELECT cluster, name FROM mappings ORDER BY family, range_start").all()
    : sql(db, "SELECT cluster, name FROM mappings WHERE cluster = ? ORDER BY name").all(cluster)) as { cluster: string; name: string }[];
}

/** Up to `count` of a cluster's mappings named after `afterName` (from the first without one), by name: one page. */
export function listMappingsAfter(db: Db, cluster: string, afterName: string | undefined, count: number): Mapping[] {
  const rows = afterName === undefined
    ? sql(db, `${MAPPING_SELECT} WHERE cluster = ? ORDER BY name LIMIT ?`).all(cluster, count)
    : sql(db, `${MAPPING_SELECT} WHERE cluster = ? AND name > ? ORDER BY name LIMIT ?`).all(cluster, afterName, count);
  return (rows as MappingRow[]).map((row) => mappingFromRow(row));
}

export function getMapping(db: Db, cluster: string, name: string): Mapping | undefined {
  const row = sql(db, `${MAPPING_SELECT} WHERE cluster = ? AND name = ?`).get(cluster, name) as MappingRow | undefined;
  return row && mappingFromRow(row);
}

export function countMappingsUsingEgressIp(db: Db, address: string): number {
  return (sql(db, "SELECT count(*) AS n FROM mappings WHERE egress_ip = ?").get(address) as { n: number }).n;
}

// ---- routes -----------------------------------------------------------------------------------------------

export function listRoutes(db: Db, cluster?: string): Route[] {
  const rows = cluster === undefined
    ? sql(db, "SELECT cluster, prefix, via FROM routes ORDER BY family, range_start").all()
    : sql(db, "SELECT cluster, prefix, via FROM routes WHERE cluster = ? ORDER BY family, range_start").all(cluster);
  return rows as Route[];
}

export function getRoute(db: Db, cluster: string, prefix: string): Route | undefined {
  return sql(db, "SELECT cluster, prefix, via FROM routes WHERE cluster = ? AND prefix = ?").get(cluster, prefix) as Route | undefined;
}

// ---- owned addresses ----------------------------------------------------------------------------------------

export function listOwnedAddresses(db: Db): { address: string; interface: string }[] {
  return sql(db, "SELECT address, interface FROM owned_addresses ORDER BY interface, address").all() as
    { address: string; interface: string }[];
}

// ---- audit log --------------------------------------------------------------------------------------------

export interface AuditRecord {
  revision: number;
  at: string;
  actor: string;
  action: string;
  resource: string;
  before: string | null;
  after: string | null;
  /** The API request that made the change, on the gateway that answered it (X-Request-Id); null elsewhere. */
  requestId: string | null;
}

/** This gateway's audit records from `revision` on, oldest first. */
export function auditRecordsFrom(db: Db, revision: number): AuditRecord[] {
  return sql(db, "SELECT revision, at, actor, action, resource, before, after, request_id AS requestId FROM audit_log WHERE revision >= ? ORDER BY id")
    .all(revision) as AuditRecord[];
}

/** This gateway's newest `limit` audit records (before the record `beforeId`, when given), newest first. */
export function recentAuditRecords(db: Db, limit: number, beforeId?: number): (AuditRecord & { id: number })[] {
  const columns = "id, revision, at, actor, action, resource, before, after, request_id AS requestId";
  return (beforeId === undefined
    ? sql(db, `SELECT ${columns} FROM audit_log ORDER BY id DESC LIMIT ?`).all(limit)
    : sql(db, `SELECT ${columns} FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?`).all(beforeId, limit)) as (AuditRecord & { id: number })[];
}

// ---- egress policies and floors ----------------------------------------------------------------------------

interface PolicyRow { cluster: string; mapping: string; policy: string }
const policyFromRow = (row: PolicyRow): StoredPolicy => ({
  cluster: row.cluster, mapping: row.mapping === "" ? null : row.mapping, policy: JSON.parse(row.policy) as EgressPolicy,
});

/** The names of a cluster's mappings that have no policy of their own (its default governs them), at most `limit`. */
export function mappingsWithoutOwnPolicy(db: Db, cluster: string, limit: number): string[] {
  return (sql(db, `SELECT m.name FROM mappings m WHERE m.cluster = ?
    AND NOT EXISTS (SELECT 1 FROM egress_policies p WHERE p.cluster = m.cluster AND p.mapping = m.name) ORDER BY m.name LIMIT ?`)
    .all(cluster, limit) as { name: string }[]).map((row) => row.name);
}

/** Every stored policy (or one cluster's), cluster defaults first within a cluster. */
export function listPolicies(db: Db, cluster?: string): StoredPolicy[] {
  const rows = cluster === undefined
    ? sql(db, "SELECT cluster, mapping, policy FROM egress_policies ORDER BY cluster, mapping").all()
    : sql(db, "SELECT cluster, mapping, policy FROM egress_policies WHERE cluster = ? ORDER BY mapping").all(cluster);
  return (rows as PolicyRow[]).map(policyFromRow);
}

/** `mapping` null: the cluster's default policy. */
export function getPolicy(db: Db, cluster: string, mapping: string | null): StoredPolicy | undefined {
  const row = sql(db, "SELECT cluster, mapping, policy FROM egress_policies WHERE cluster = ? AND mapping = ?").get(cluster, mapping ?? "") as PolicyRow | undefined;
  return row && policyFromRow(row);
}

interface FloorRow { scope: string; rules: string }
const floorFromRow = (row: FloorRow): PolicyFloor => ({ cluster: row.scope === "*" ? null : row.scope, rules: JSON.parse(row.rules) as FloorRule[] });

/** Every floor: the global one (cluster null) first, then the clusters' by name. */
export function listFloors(db: Db): PolicyFloor[] {
  return (sql(db, "SELECT scope, rules FROM policy_floors ORDER BY scope = '*' DESC, scope").all() as FloorRow[]).map(floorFromRow);
}

/** `cluster` null: the global floor. */
export function getFloor(db: Db, cluster: string | null): PolicyFloor | undefined {
  const row = sql(db, "SELECT scope, rules FROM policy_floors WHERE scope = ?").get(cluster ?? "*") as FloorRow | undefined;
  return row && floorFromRow(row);
}
