import type { Db } from "../store/database.js";
import { auditRecordsFrom, type AuditRecord } from "../store/reads.js";
import type { Snapshot } from "./log.js";

/**
 * The writes this gateway holds that the leader's snapshot does not: the audit records that are not in
 * the leader's audit log. Only records from the leader's oldest retained revision on are compared, since
 * each gateway prunes its own audit log and an older record may simply be gone on the leader. Importing
 * the snapshot discards these writes; the caller logs them so that nobody's acknowledged change vanishes
 * without a trace.
 */
export function discardedWrites(db: Db, snapshot: Snapshot): AuditRecord[] {
  const theirs = snapshot.tables["audit_log"] ?? [];
  const keyOf = (r: Record<string, unknown>) => JSON.stringify([r["revision"], r["at"], r["actor"], r["action"], r["resource"]]);
  const known = new Set(theirs.map(keyOf));
  const oldest = theirs.reduce((min, r) => Math.min(min, typeof r["revision"] === "number" ? r["revision"] : min), Number.POSITIVE_INFINITY);
  const from = Number.isFinite(oldest) ? oldest : 0;
  return auditRecordsFrom(db, from).filter((record) => !known.has(keyOf(record as unknown as Record<string, unknown>)));
}
