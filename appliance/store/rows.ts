import { sql, type Db } from "./database.js";
import type { Cluster, EgressIp, Mapping, Quotas, Route, TokenInfo } from "../model.js";
import type { Prefix } from "../net/cidr.js";
import { toSortableBytes } from "../net/cidr.js";

/** SQL access for every table. Pure data access: the rules about what is allowed live in appliance/service. */

export function rangeColumns(prefix: Prefix): { family: number; start: Buffer; end: Buffer } {
  return { family: prefix.family, start: toSortableBytes(prefix.start, prefix.family), end: toSortableBytes(prefix.end, prefix.family) };
}

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

export function insertEgressIp(db: Db, ip: Omit<EgressIp, "cluster">, now: string): void {
  sql(db, "INSERT INTO egress_ips (address, family, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
    .run(ip.address, ip.family, ip.description, now, now);
}

export function updateEgressIpDescription(db: Db, address: string, description: string, now: string): void {
  sql(db, "UPDATE egress_ips SET description = ?, updated_at = ? WHERE address = ?").run(description, now, address);
}

export function deleteEgressIp(db: Db, address: string): void {
  sql(db, "DELETE FROM egress_ips WHERE address = ?").run(address);
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
  const sourceRanges = (sql(db, "SELECT cidr FROM cluster_source_ranges WHERE cluster = ? ORDER BY family, range_start")
    .all(name) as { cidr: string }[]).map((r) => r.cidr);
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

export function insertCluster(db: Db, name: string, description: string, now: string): void {
  sql(db, "INSERT INTO clusters (name, description, created_at, updated_at) VALUES (?, ?, ?, ?)").run(name, description, now, now);
}

export function updateClusterDescription(db: Db, name: string, description: string, now: string): void {
  sql(db, "UPDATE clusters SET description = ?, updated_at = ? WHERE name = ?").run(description, now, name);
}

export function updateClusterLimits(db: Db, name: string, excludable: string[], quotas: Cluster["quotas"], now: string): void {
  sql(db, `UPDATE clusters SET excludable_destinations = ?, quota_mappings = ?, quota_routes = ?, quota_destinations = ?, updated_at = ?
    WHERE name = ?`).run(JSON.stringify(excludable), quotas.mappings ?? null, quotas.routes ?? null, quotas.destinations ?? null, now, name);
}

/** What a cluster holds, counted the way its quotas count it. */
export function clusterUsage(db: Db, cluster: string): Quotas {
  const mappings = sql(db, `SELECT count(*) AS n,
      coalesce(sum(json_array_length(destinations) + json_array_length(excluded_destinations)), 0) AS destinations
    FROM mappings WHERE cluster = ?`).get(cluster) as { n: number; destinations: number };
  const routes = (sql(db, "SELECT count(*) AS n FROM routes WHERE cluster = ?").get(cluster) as { n: number }).n;
  return { mappings: mappings.n, routes, destinations: mappings.destinations };
}

export function deleteCluster(db: Db, name: string): void {
  sql(db, "DELETE FROM clusters WHERE name = ?").run(name);
}

export function replaceSourceRanges(db: Db, cluster: string, prefixes: Prefix[]): void {
  sql(db, "DELETE FROM cluster_source_ranges WHERE cluster = ?").run(cluster);
  const insert = sql(db, "INSERT INTO cluster_source_ranges (cluster, cidr, family, range_start, range_end) VALUES (?, ?, ?, ?, ?)");
  for (const prefix of prefixes) {
    const range = rangeColumns(prefix);
    insert.run(cluster, prefix.cidr, range.family, range.start, range.end);
  }
}

export function replaceClusterEgressIps(db: Db, cluster: string, addresses: string[]): void {
  sql(db, "DELETE FROM cluster_egress_ips WHERE cluster = ?").run(cluster);
  const insert = sql(db, "INSERT INTO cluster_egress_ips (address, cluster) VALUES (?, ?)");
  for (const address of addresses) insert.run(address, cluster);
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

export function insertToken(db: Db, token: { id: string; cluster: string; description: string; hash: Buffer }, now: string): void {
  sql(db, "INSERT INTO tokens (id, cluster, description, hash, created_at) VALUES (?, ?, ?, ?, ?)")
    .run(token.id, token.cluster, token.description, token.hash, now);
}

export function revokeToken(db: Db, cluster: string, id: string, now: string): void {
  sql(db, "UPDATE tokens SET revoked_at = ? WHERE cluster = ? AND id = ? AND revoked_at IS NULL").run(now, cluster, id);
}

// ---- mappings ---------------------------------------------------------------------------------------------

interface MappingRow {
  cluster: string; name: string; source_cidr: string; egress_ip: string;
  destinations: string; excluded_destinations: string; labels: string;
}

const MAPPING_SELECT = "SELECT cluster, name, source_cidr, egress_ip, destinations, excluded_destinations, labels FROM mappings";

function mappingFromRow(row: MappingRow): Mapping {
  return {
    cluster: row.cluster,
    name: row.name,
    sourceCidr: row.source_cidr,
    egressIp: row.egress_ip,
    destinations: JSON.parse(row.destinations) as string[],
    excludedDestinations: JSON.parse(row.excluded_destinations) as string[],
    labels: JSON.parse(row.labels) as Record<string, string>,
  };
}

export function listMappings(db: Db, cluster?: string): Mapping[] {
  const rows = cluster === undefined
    ? sql(db, `${MAPPING_SELECT} ORDER BY family, range_start`).all()
    : sql(db, `${MAPPING_SELECT} WHERE cluster = ? ORDER BY name`).all(cluster);
  return (rows as MappingRow[]).map(mappingFromRow);
}

export function getMapping(db: Db, cluster: string, name: string): Mapping | undefined {
  const row = sql(db, `${MAPPING_SELECT} WHERE cluster = ? AND name = ?`).get(cluster, name) as MappingRow | undefined;
  return row && mappingFromRow(row);
}

export function insertMapping(db: Db, mapping: Mapping, source: Prefix, now: string): void {
  const range = rangeColumns(source);
  sql(db, `INSERT INTO mappings (cluster, name, source_cidr, family, range_start, range_end, egress_ip,
      destinations, excluded_destinations, labels, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    .run(mapping.cluster, mapping.name, mapping.sourceCidr, range.family, range.start, range.end, mapping.egressIp,
      JSON.stringify(mapping.destinations), JSON.stringify(mapping.excludedDestinations), JSON.stringify(mapping.labels), now, now);
}

export function deleteMapping(db: Db, cluster: string, name: string): void {
  sql(db, "DELETE FROM mappings WHERE cluster = ? AND name = ?").run(cluster, name);
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

export function insertRoute(db: Db, route: Route, prefix: Prefix, now: string): void {
  const range = rangeColumns(prefix);
  sql(db, "INSERT INTO routes (cluster, prefix, family, range_start, range_end, via, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    .run(route.cluster, route.prefix, range.family, range.start, range.end, route.via, now, now);
}

export function deleteRoute(db: Db, cluster: string, prefix: string): void {
  sql(db, "DELETE FROM routes WHERE cluster = ? AND prefix = ?").run(cluster, prefix);
}

// ---- owned addresses ----------------------------------------------------------------------------------------

export function listOwnedAddresses(db: Db): { address: string; interface: string }[] {
  return sql(db, "SELECT address, interface FROM owned_addresses ORDER BY interface, address").all() as
    { address: string; interface: string }[];
}

export function recordOwnedAddress(db: Db, address: string, iface: string): void {
  sql(db, "INSERT OR IGNORE INTO owned_addresses (address, interface) VALUES (?, ?)").run(address, iface);
}

export function forgetOwnedAddress(db: Db, address: string, iface: string): void {
  sql(db, "DELETE FROM owned_addresses WHERE address = ? AND interface = ?").run(address, iface);
}
