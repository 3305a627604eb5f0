/**
 * The replicated tables, in the order a snapshot inserts them (parents first): the one source of what the
 * changelog captures. The changelog triggers are generated from it (changelog-triggers.ts) and replication
 * reads and writes rows by it. A table or column added by a migration is added here in the same change; a
 * unit test compares this list with the migrated schema.
 */
export interface TableSpec {
  name: string;
  columns: string[];
  primaryKey: string[];
  /** Columns stored as BLOB, carried as hex text in changelog rows. */
  blobs: string[];
  /** Deletions are each gateway's own business (audit retention) and have no changelog trigger. */
  deletesStayLocal?: true;
  /**
   * The release that added the table. A snapshot may lack it (a peer of an older release: taken as empty), and a
   * snapshot leaves it out while it is empty, so that a pair mid-way through a rolling upgrade keeps replicating
   * until someone first writes to it.
   */
  addedIn?: string;
  /**
   * Columns of the table that stay on this gateway: not in changelog rows, snapshots or digests. A column the
   * previous release does not know must be one of these until the replication protocol carries it, since a
   * follower refuses a row with an unknown column (message-rules.ts).
   */
  localColumns?: string[];
}

export const REPLICATED_TABLES: TableSpec[] = [
  { name: "egress_ips", columns: ["address", "family", "description", "created_at", "updated_at"], primaryKey: ["address"], blobs: [] },
  {
    name: "clusters",
    columns: ["name", "description", "excludable_destinations", "quota_mappings", "quota_routes", "quota_destinations", "created_at", "updated_at"],
    primaryKey: ["name"], blobs: [],
  },
  { name: "cluster_source_ranges", columns: ["cluster", "cidr", "family", "range_start", "range_end"], primaryKey: ["cidr"], blobs: ["range_start", "range_end"] },
  { name: "cluster_egress_ips", columns: ["address", "cluster"], primaryKey: ["address"], blobs: [] },
  { name: "tokens", columns: ["id", "cluster", "description", "hash", "created_at", "revoked_at"], primaryKey: ["id"], blobs: ["hash"] },
  {
    name: "mappings",
    columns: ["cluster", "name", "source_cidr", "family", "range_start", "range_end", "egress_ip", "destinations", "excluded_destinations", "labels", "created_at", "updated_at"],
    primaryKey: ["cluster", "name"], blobs: ["range_start", "range_end"],
  },
  { name: "routes", columns: ["cluster", "prefix", "family", "range_start", "range_end", "via", "created_at", "updated_at"], primaryKey: ["cluster", "prefix"], blobs: ["range_start", "range_end"] },
  { name: "egress_policies", columns: ["cluster", "mapping", "policy", "created_at", "updated_at"], primaryKey: ["cluster", "mapping"], blobs: [], addedIn: "0.4.0" },
  { name: "policy_floors", columns: ["scope", "rules", "created_at", "updated_at"], primaryKey: ["scope"], blobs: [], addedIn: "0.4.0" },
  {
    name: "audit_log", columns: ["id", "revision", "at", "actor", "action", "resource", "before", "after"], primaryKey: ["id"], blobs: [], deletesStayLocal: true,
    localColumns: ["request_id"],
  },
];

export const TABLES_BY_NAME = new Map(REPLICATED_TABLES.map((t) => [t.name, t]));
