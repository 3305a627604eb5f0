import type { Cluster, EgressIp, EgressPolicy, FloorRule, Mapping, Route } from "../model.js";
import type { Prefix } from "../net/cidr.js";
import { sql, type Db } from "./database.js";
import { rangeColumns } from "./range-columns.js";

/**
 * The configuration's writes, one statement each. Pure data access: the rules about what is allowed live in
 * appliance/service, which makes every write through Store.write; reads are in reads.ts.
 */

// ---- egress IPs -------------------------------------------------------------------------------------------

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

// ---- tokens -----------------------------------------------------------------------------------------------

export function insertToken(db: Db, token: { id: string; cluster: string; description: string; hash: Buffer }, now: string): void {
  sql(db, "INSERT INTO tokens (id, cluster, description, hash, created_at) VALUES (?, ?, ?, ?, ?)")
    .run(token.id, token.cluster, token.description, token.hash, now);
}

export function revokeToken(db: Db, cluster: string, id: string, now: string): void {
  sql(db, "UPDATE tokens SET revoked_at = ? WHERE cluster = ? AND id = ? AND revoked_at IS NULL").run(now, cluster, id);
}

// ---- mappings ---------------------------------------------------------------------------------------------

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

// ---- egress policies and floors ----------------------------------------------------------------------------

/** `mapping` null: the cluster's default policy (stored as ''). */
export function upsertPolicy(db: Db, cluster: string, mapping: string | null, policy: EgressPolicy, now: string): void {
  sql(db, `INSERT INTO egress_policies (cluster, mapping, policy, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (cluster, mapping) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`)
    .run(cluster, mapping ?? "", JSON.stringify(policy), now, now);
}

export function deletePolicy(db: Db, cluster: string, mapping: string | null): void {
  sql(db, "DELETE FROM egress_policies WHERE cluster = ? AND mapping = ?").run(cluster, mapping ?? "");
}

/** `cluster` null: the global floor (stored as scope '*'). */
export function upsertFloor(db: Db, cluster: string | null, rules: FloorRule[], now: string): void {
  sql(db, `INSERT INTO policy_floors (scope, rules, created_at, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (scope) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at`)
    .run(cluster ?? "*", JSON.stringify(rules), now, now);
}

export function deleteFloor(db: Db, cluster: string | null): void {
  sql(db, "DELETE FROM policy_floors WHERE scope = ?").run(cluster ?? "*");
}

// ---- routes -----------------------------------------------------------------------------------------------

export function insertRoute(db: Db, route: Route, prefix: Prefix, now: string): void {
  const range = rangeColumns(prefix);
  sql(db, "INSERT INTO routes (cluster, prefix, family, range_start, range_end, via, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    .run(route.cluster, route.prefix, range.family, range.start, range.end, route.via, now, now);
}

export function deleteRoute(db: Db, cluster: string, prefix: string): void {
  sql(db, "DELETE FROM routes WHERE cluster = ? AND prefix = ?").run(cluster, prefix);
}

// ---- owned addresses ----------------------------------------------------------------------------------------

export function recordOwnedAddress(db: Db, address: string, iface: string): void {
  sql(db, "INSERT OR IGNORE INTO owned_addresses (address, interface) VALUES (?, ?)").run(address, iface);
}

export function forgetOwnedAddress(db: Db, address: string, iface: string): void {
  sql(db, "DELETE FROM owned_addresses WHERE address = ? AND interface = ?").run(address, iface);
}
