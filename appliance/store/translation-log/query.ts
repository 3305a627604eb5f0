import { invalidField } from "../../errors.js";
import type { TranslationQuery } from "../../translation-model.js";
import { addressBytes } from "./address-bytes.js";
import { NAMED_PROTOCOL_NUMBERS, OPEN_RECORD_COLUMNS, PROTOCOL_NUMBER_OF, RECORD_COLUMNS } from "./rows.js";

/** The ten-minute bucket the address indexes lead with: must match the expression in migrations/translation-log. */
export const BUCKET_MS = 600_000;
const BUCKET_EXPRESSION = "start_ms / 600000";

/** The earliest and latest start stored: unbounded windows are clamped to it (null: the log is empty). */
export type StartSpan = { first: number; last: number } | null;

export interface QuerySql {
  text: string;
  params: Record<string, unknown>;
}

/**
 * The SQL of one page of a reverse lookup, newest start first (then highest id): the closed records of
 * `translations` and the open ones of `open_translations` together. Pages go by (start, id), not by id alone: ids
 * are given when a connection is first seen, so one recorded from its end event has a late id and an early start,
 * and a cursor by id would skip it in the merged pages of a pair (which are in start order).
 *
 * Time: a record overlaps [from, to] when start ≤ to and (end ≥ from or still open). "start ≤ to" alone would
 * walk every older closed record of the selector (ports are reused all day long), so that walk is bounded below:
 * a closed record that overlaps [from, to] started at or after from − longestMs, where longestMs is the longest
 * closed connection the log has stored (kept by the store; exact, not a guess). Open records can be older than
 * that bound (a connection open for days); the small open table is read without it. So the egress+port lookup
 * reads that port's closed records of [at − longestMs, at] plus its open rows: a handful, whatever the store's size.
 *
 * The closed table's address indexes lead with the ten minutes of the start, so a lookup by egress or pod address
 * names the buckets of its window (an IN list: one index seek each); the window is clamped to the closed starts stored.
 *
 * `clusters` resolves to interned ids before it gets here; an empty list matches nothing.
 */
export function translationQuerySql(query: TranslationQuery, longestMs: number, clusterIds: readonly number[] | undefined,
  limit: number, span: StartSpan): QuerySql {
  const params: Record<string, unknown> = { limit };
  const where: string[] = [];
  if (query.egressAddress !== undefined) {
    where.push("egress_address = :egress");
    params.egress = addressBytes(query.egressAddress, "egressAddress");
  }
  if (query.egressPort !== undefined) {
    where.push("egress_port = :egressPort");
    params.egressPort = query.egressPort;
  }
  if (query.podAddress !== undefined) {
    where.push("pod_address = :pod");
    params.pod = addressBytes(query.podAddress, "podAddress");
  }
  if (query.destinationAddress !== undefined) {
    where.push("destination_address = :destination");
    params.destination = addressBytes(query.destinationAddress, "destinationAddress");
  }
  if (query.destinationPort !== undefined) {
    where.push("destination_port = :destinationPort");
    params.destinationPort = query.destinationPort;
  }
  if (query.protocol !== undefined) {
    where.push(query.protocol === "other" ? `protocol NOT IN (${NAMED_PROTOCOL_NUMBERS.join(", ")})` : "protocol = :protocol");
    if (query.protocol !== "other") params.protocol = PROTOCOL_NUMBER_OF[query.protocol];
  }
  if (clusterIds !== undefined) where.push(clusterIds.length === 0 ? "0" : `cluster IN (${clusterIds.map((id) => Number(id)).join(", ")})`);
  if (query.cursor !== undefined) {
    // After the cursor in (start_ms DESC, id DESC): the first term bounds an index range, the second filters its edge.
    where.push("start_ms <= :cursorStart", "(start_ms < :cursorStart OR id < :cursorId)");
    params.cursorStart = query.cursor.startMs;
    params.cursorId = query.cursor.id;
  }

  // Two tables: closed records (big, append-only) and open ones (small); every page is the union, newest start first.
  const byAddress = query.egressAddress !== undefined || query.podAddress !== undefined;
  const window = timeWindow(query);
  if (!window) {
    const closed = byAddress ? [bucketsTerm(span, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), ...where] : where;
    return { text: union(closed, where), params };
  }
  params.from = window.from;
  params.to = window.to;
  params.lower = window.from - Math.max(0, longestMs);
  const closed = [...where, "start_ms >= :lower", "start_ms <= :to", "end_ms >= :from"];
  if (byAddress) closed.unshift(bucketsTerm(span, params.lower as number, window.to));
  return { text: union(closed, [...where, "start_ms <= :to"]), params };
}

function union(closed: string[], open: string[]): string {
  return `SELECT ${RECORD_COLUMNS} FROM translations ${clause(closed)}
    UNION ALL
    SELECT ${OPEN_RECORD_COLUMNS} FROM open_translations ${clause(open)}
    ORDER BY start_ms DESC, id DESC LIMIT :limit`;
}

/** The buckets in [from, to] that hold starts, as an IN list over the indexes' leading expression. */
function bucketsTerm(span: StartSpan, from: number, to: number): string {
  if (span === null) return "0";
  const first = Math.floor(Math.max(from, span.first) / BUCKET_MS);
  const last = Math.floor(Math.min(to, span.last) / BUCKET_MS);
  if (first > last) return "0";
  const buckets: number[] = [];
  for (let bucket = first; bucket <= last; bucket++) buckets.push(bucket);
  return `${BUCKET_EXPRESSION} IN (${buckets.join(", ")})`;
}

function clause(terms: string[]): string {
  return terms.length === 0 ? "" : `WHERE ${terms.join(" AND ")}`;
}

function timeWindow(query: TranslationQuery): { from: number; to: number } | undefined {
  if (query.atMs !== undefined) return { from: query.atMs, to: query.atMs };
  if (query.fromMs === undefined && query.toMs === undefined) return undefined;
  const from = query.fromMs ?? Number.MIN_SAFE_INTEGER;
  const to = query.toMs ?? Number.MAX_SAFE_INTEGER;
  if (from > to) throw invalidField("fromMs", "must not be after toMs");
  return { from, to };
}
