import type { Cluster } from "../../model.js";
import type { Prefix } from "../../net/cidr.js";
import type { Db } from "../../store/database.js";
import * as reads from "../../store/reads.js";
import { TABLES_BY_NAME } from "../../store/replicated-tables.js";
import { allRows, mappingsUsingEgressIp, rowByKey, rowsOfCluster, type StoredRow } from "../../store/stored-rows.js";
import { grantsOf, ownedRanges, type ClusterGrants } from "../clusters.js";
import type { OwnAddresses } from "../own-addresses.js";
import { clustersThatLostRanges, regrantedAddresses, type InvariantScope } from "./scope.js";

/** A stored row as SQLite returns it: BLOB columns are Buffers. */
interface ClusterEntry {
  cluster: Cluster;
  ranges: Prefix[];
  grants: ClusterGrants;
}

export type Row = StoredRow;

/** One broken rule: which rule, which row (table and primary key), and what exactly is wrong. */
export interface Violation {
  rule: string;
  table: string;
  key: Record<string, unknown>;
  detail: string;
}

/**
 * What a rule sees: the rows in scope, read straight from the store inside the caller's transaction, and
 * each cluster's grants parsed once (a rule over 100k mappings of one cluster must not re-read it per row).
 */
export class InvariantContext {
  private readonly clusters = new Map<string, ClusterEntry | null>();

  constructor(readonly db: Db, readonly scope: InvariantScope, readonly own: OwnAddresses) {}

  /**
   * The rows a rule must re-check: the ones written, plus mappings and routes whose grants shrank. Read
   * with all(), never iterate(): a rule runs queries of its own per row, which an open iterator would block.
   */
  *rows(table: string): Iterable<Row> {
    if (this.scope.full) {
      yield* allRows(this.db, table);
      return;
    }
    const seen = new Set<string>();
    const pk = TABLES_BY_NAME.get(table)?.primaryKey ?? [];
    const once = (row: Row) => {
      const key = JSON.stringify(pk.map((c) => row[c]));
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    };
    for (const row of this.touched(table)) if (once(row)) yield row;
    if (table !== "mappings" && table !== "routes") return;
    for (const cluster of clustersThatLostRanges(this.db, this.scope)) {
      for (const row of rowsOfCluster(this.db, table, cluster)) if (once(row)) yield row;
    }
    if (table !== "mappings") return;
    for (const address of regrantedAddresses(this.db, this.scope)) {
      for (const row of mappingsUsingEgressIp(this.db, address)) if (once(row)) yield row;
    }
  }

  /** Only the rows written (all rows for a full check): what overlap rules compare with their neighbours. */
  *touched(table: string): Iterable<Row> {
    if (this.scope.full) {
      yield* allRows(this.db, table);
      return;
    }
    for (const key of this.scope.rows.get(table) ?? []) {
      // A deleted row is gone: nothing of it is left to break a rule.
      const row = rowByKey(this.db, table, JSON.parse(key) as unknown[]);
      if (row) yield row;
    }
  }

  /** The cluster with its grants parsed, or undefined when it does not exist. */
  cluster(name: string): ClusterEntry | undefined {
    let entry = this.clusters.get(name);
    if (entry === undefined) {
      const cluster = reads.getCluster(this.db, name);
      entry = cluster ? { cluster, ranges: ownedRanges(cluster), grants: grantsOf(cluster) } : null;
      this.clusters.set(name, entry);
    }
    return entry ?? undefined;
  }
}
