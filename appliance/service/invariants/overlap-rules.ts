import { rangeNeighbours, rowsInRangeOrder, type RangeTable } from "../../store/stored-rows.js";
import type { InvariantContext, Row } from "./context.js";
import { keyOf, type InvariantRule } from "./rule.js";

/**
 * Source ranges, mappings and routes are each disjoint across the whole store, whichever cluster owns
 * them (a tenant must never claim another's pods). With rows sorted by range start, any overlap shows up
 * between neighbours, so a change is checked against the two neighbours of each row it wrote (two index
 * lookups per row) and a snapshot by one sweep in range order.
 */
export const OVERLAP_RULES: InvariantRule[] = [
  disjoint("source-ranges-disjoint", "cluster_source_ranges", "cidr"),
  disjoint("mappings-disjoint", "mappings", "source_cidr"),
  disjoint("routes-disjoint", "routes", "prefix"),
];

function disjoint(name: string, table: RangeTable, cidrColumn: string): InvariantRule {
  const describe = (row: Row) => `${String(row[cidrColumn])}${row["cluster"] === undefined ? "" : ` of cluster ${String(row["cluster"])}`}${table === "mappings" ? ` (mapping ${String(row["name"])})` : ""}`;
  const found = (row: Row, other: Row) => ({ rule: name, table, key: keyOf(table, row), detail: `${describe(row)} overlaps ${describe(other)}` });
  return {
    name, table,
    check(ctx) {
      if (ctx.scope.full) return sweep(ctx, table, found);
      for (const row of ctx.touched(table)) {
        const other = overlappingNeighbour(ctx, table, row);
        if (other) return found(row, other);
      }
      return undefined;
    },
  };
}

function sweep(ctx: InvariantContext, table: RangeTable, found: (row: Row, other: Row) => ReturnType<InvariantRule["check"]>) {
  let widest: Row | undefined;
  for (const row of rowsInRangeOrder(ctx.db, table)) {
    if (widest && widest["family"] === row["family"] && Buffer.compare(widest["range_end"] as Buffer, row["range_start"] as Buffer) >= 0) {
      return found(row, widest);
    }
    if (!widest || widest["family"] !== row["family"] || Buffer.compare(row["range_end"] as Buffer, widest["range_end"] as Buffer) > 0) widest = row;
  }
  return undefined;
}

function overlappingNeighbour(ctx: InvariantContext, table: RangeTable, row: Row): Row | undefined {
  const { before, after } = rangeNeighbours(ctx.db, table, row);
  if (before && Buffer.compare(before["range_end"] as Buffer, row["range_start"] as Buffer) >= 0) return before;
  if (after && Buffer.compare(after["range_start"] as Buffer, row["range_end"] as Buffer) <= 0) return after;
  return undefined;
}
