import { z } from "zod";
import { AppError } from "../errors.js";
import { fieldProblemsFromZod } from "../validation.js";

/**
 * The replication messages as they arrive from the peer, checked before anything else looks at them: a
 * forged or garbled message is refused whole, never half-applied. The shape here is the wire format; the
 * rules about what a message may mean (consecutive revisions, known tables and columns) are in
 * message-rules.ts.
 */
const int = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const leaderName = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
const column = z.union([z.string(), z.number(), z.null()]);
const row = z.record(z.string(), column);

export const positionSchema = z.strictObject({ revision: int.min(0), revisionEpoch: int });

const entrySchema = z.strictObject({
  tbl: z.string(),
  op: z.enum(["upsert", "delete"]),
  pk: row,
  row: row.nullable(),
});

const revisionSchema = z.strictObject({ revision: int.min(1), epoch: int, entries: z.array(entrySchema) });

export const changesMessageSchema = z.strictObject({
  epoch: int.min(0),
  leader: leaderName,
  base: positionSchema,
  revisions: z.array(revisionSchema),
});

export const snapshotMessageSchema = z.strictObject({
  epoch: int.min(0),
  leader: leaderName,
  snapshot: z.strictObject({ revision: int.min(0), revisionEpoch: int, tables: z.record(z.string(), z.array(row)) }),
});

/**
 * The peer's last apply, as information for the fault policy: unknown members are dropped rather than refused,
 * so that a peer that reports more (a newer version) is still understood. Replicated rows stay strict.
 */
export const applyReportSchema = z.object({
  revision: int,
  ok: z.boolean(),
  at: z.string(),
  durationMs: z.number(),
  kind: z.enum(["none", "incremental", "full"]),
  error: z.string().optional(),
  isolated: z.array(z.object({ cluster: z.string(), error: z.string() })).optional(),
  unresolvedNextHops: z.array(z.string()).optional(),
});

export const heartbeatMessageSchema = z.strictObject({
  epoch: int.min(0),
  leader: leaderName,
  position: positionSchema,
  /**
   * SHA-256 (hex) of the replicated configuration tables at `position`; null while writes keep coming (the
   * leader computes it only once its store has been quiet for a heartbeat interval).
   */
  digest: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  /** The leader's last data-plane apply, so the follower knows whether the leader is healthy. */
  dataplane: applyReportSchema.nullable(),
});

export type ChangesMessage = z.infer<typeof changesMessageSchema>;
export type SnapshotMessage = z.infer<typeof snapshotMessageSchema>;
export type HeartbeatMessage = z.infer<typeof heartbeatMessageSchema>;

/** Parses a message body, or refuses it with `replication-refused` naming what is wrong. */
export function parseMessage<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const fields = fieldProblemsFromZod(result.error);
  throw new AppError("replication-refused", `malformed ${what} message: ${fields.map((f) => `${f.field || "body"}: ${f.reason}`).join("; ")}`,
    { fields, extra: { rule: "message-shape" } });
}
