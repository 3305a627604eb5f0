/**
 * The replicated tables, in the order a snapshot inserts them (parents first). Must match the triggers
 * of migrations/002_replication.sql; a unit test compares the two.
 */
export interface TableSpec {
  name: string;
  columns: string[];
  primaryKey: string[];
  /** Columns stored as BLOB, carried as hex text in changelog rows. */
  blobs: string[];
}

export const REPLICATED_TABLES: TableSpec[] = [
  { name: "egress_ips", columns: ["address", "family", "description", "created_at", "updated_at"], primaryKey: ["address"], blobs: [] },
  { name: "clusters", columns: ["name", "description", "created_at", "updated_at"], primaryKey: ["name"], blobs: [] },
  { name: "cluster_source_ranges", columns: ["cluster", "cidr", "family", "range_start", "range_end"], primaryKey: ["cidr"], blobs: ["range_start", "range_end"] },
  { name: "cluster_egress_ips", columns: ["address", "cluster"], primaryKey: ["address"], blobs: [] },
  { name: "tokens", columns: ["id", "cluster", "description", "hash", "created_at", "revoked_at"], primaryKey: ["id"], blobs: ["hash"] },
  {
    name: "mappings",
    columns: ["cluster", "name", "source_cidr", "family", "range_start", "range_end", "egress_ip", "destinations", "excluded_destinations", "labels", "created_at", "updated_at"],
    primaryKey: ["cluster", "name"], blobs: ["range_start", "range_end"],
  },
  { name: "routes", columns: ["cluster", "prefix", "family", "range_start", "range_end", "via", "created_at", "updated_at"], primaryKey: ["cluster", "prefix"], blobs: ["range_start", "range_end"] },
  { name: "audit_log", columns: ["id", "revision", "at", "actor", "action", "resource", "before", "after"], primaryKey: ["id"], blobs: [] },
];

export const TABLES_BY_NAME = new Map(REPLICATED_TABLES.map((t) => [t.name, t]));
