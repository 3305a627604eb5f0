import { AppError } from "../errors.js";
import type { ChangesMessage, SnapshotMessage } from "./messages.js";
import { REPLICATED_TABLES, TABLES_BY_NAME, type TableSpec } from "../store/replicated-tables.js";

/**
 * What a well-formed message may say, checked before it touches the store: it comes from the configured
 * peer; its revisions continue the base one by one and none claims a newer epoch than the message itself;
 * every entry names a replicated table and exactly that table's columns (BLOBs as hex). An unknown table
 * or column is refused, not ignored: a newer leader's schema must not be half-applied by an older follower.
 */
export function checkChangesMessage(message: ChangesMessage, peer: string): void {
  checkSender(message.leader, peer);
  message.revisions.forEach((revision, i) => {
    const expected = message.base.revision + i + 1;
    if (revision.revision !== expected) {
      refuse("message-revisions-consecutive", `revision ${revision.revision} at position ${i} does not continue the base ${message.base.revision} (expected ${expected})`);
    }
    if (revision.epoch > message.epoch) {
      refuse("message-epochs", `revision ${revision.revision} claims epoch ${revision.epoch}, newer than the message's epoch ${message.epoch}`);
    }
    revision.entries.forEach((entry, j) => {
      const where = `revision ${revision.revision} entry ${j}`;
      const spec = knownTable(entry.tbl, where);
      checkColumns(spec, Object.keys(entry.pk), spec.primaryKey, `${where} (${spec.name}) primary key`);
      if (entry.op === "delete") {
        if (entry.row !== null) refuse("message-columns", `${where} deletes from ${spec.name} but carries a row`);
        return;
      }
      if (entry.row === null) refuse("message-columns", `${where} upserts into ${spec.name} without a row`);
      checkColumns(spec, Object.keys(entry.row), spec.columns, `${where} (${spec.name}) row`);
      checkBlobs(spec, entry.row, where);
      for (const c of spec.primaryKey) {
        if (entry.row[c] !== entry.pk[c]) refuse("message-columns", `${where} (${spec.name}): the row's ${c} differs from its primary key`);
      }
    });
  });
}

export function checkSnapshotMessage(message: SnapshotMessage, peer: string): void {
  checkSender(message.leader, peer);
  const { snapshot } = message;
  if (snapshot.revisionEpoch > message.epoch) {
    refuse("message-epochs", `the snapshot's revision ${snapshot.revision} claims epoch ${snapshot.revisionEpoch}, newer than the message's epoch ${message.epoch}`);
  }
  for (const [table, rows] of Object.entries(snapshot.tables)) {
    const spec = knownTable(table, "snapshot");
    rows.forEach((row, i) => {
      checkColumns(spec, Object.keys(row), spec.columns, `snapshot ${table} row ${i}`);
      checkBlobs(spec, row, `snapshot ${table} row ${i}`);
    });
  }
  const missing = REPLICATED_TABLES.filter((spec) => spec.addedIn === undefined && !(spec.name in snapshot.tables)).map((spec) => spec.name);
  if (missing.length > 0) refuse("message-tables", `the snapshot lacks table(s) ${missing.join(", ")}`);
}

/** The message's leader must be the gateway whose certificate the channel authenticated. */
export function checkSender(leader: string, peer: string): void {
  if (leader !== peer) refuse("message-sender", `the message names leader ${leader}, but it came from peer ${peer}`);
}

function knownTable(name: string, where: string): TableSpec {
  const spec = TABLES_BY_NAME.get(name);
  if (!spec) refuse("message-tables", `${where} names table ${JSON.stringify(name)}, which is not replicated`);
  return spec;
}

function checkColumns(spec: TableSpec, got: string[], expected: readonly string[], where: string): void {
  const unknown = got.filter((c) => !expected.includes(c));
  const missing = expected.filter((c) => !got.includes(c));
  if (unknown.length > 0) refuse("message-columns", `${where} has unknown column(s) ${unknown.join(", ")}`);
  if (missing.length > 0) refuse("message-columns", `${where} lacks column(s) ${missing.join(", ")}`);
}

function checkBlobs(spec: TableSpec, row: Record<string, unknown>, where: string): void {
  for (const c of spec.blobs) {
    const value = row[c];
    if (typeof value !== "string" || !/^(?:[0-9A-Fa-f]{2})*$/.test(value)) refuse("message-columns", `${where} (${spec.name}): ${c} is not hex`);
  }
}

function refuse(rule: string, detail: string): never {
  throw new AppError("replication-refused", detail, { extra: { rule } });
}
