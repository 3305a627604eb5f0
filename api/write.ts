import type { Context, TypedResponse } from "hono";
import { AppError } from "../appliance/errors.js";
import { revokes } from "../appliance/replication/revocation.js";
import type { Db } from "../appliance/store/database.js";
import type { AuditEntry, WriteContext, WriteOutcome } from "../appliance/store/store.js";
import type { ApiEnv } from "./context.js";
import { actorOf } from "./middleware/auth.js";
import { etagOf, requireIfMatch } from "./http/etag.js";
import { acknowledgeReplication } from "./replication-ack.js";
import { forgetRequestBody } from "./http/forget-body.js";

/**
 * The resource a write acts on, as its GET shows it: If-Match is compared with its ETag, and the answer
 * carries its new ETag. A POST's target is the collection it adds to; its answer's ETag is the created item's.
 */
export interface WriteTarget<T> {
  /** The target's representation now; undefined when it does not exist. Read inside the write's transaction. */
  current(db: Db): unknown;
  /** The representation the answer's ETag is computed from, once the change ran (default: current() again; undefined: none). */
  after?(result: T, db: Db): unknown;
}

/**
 * Runs one write as the calling principal, replicates it (api/replication-ack.ts), then honours
 * `?wait=true` by waiting (bounded) until the data plane has applied the revision. The revision travels
 * back in the `Egw-Revision` header either way, the target's new ETag in `ETag`.
 *
 * `If-Match` is checked inside the write's transaction (the store's precondition, under SQLite's write
 * lock), so of two writers that read the same ETag only the first to commit passes; the other gets 412
 * and changes nothing.
 */
export async function performWrite<T>(c: Context<ApiEnv>, change: (tx: WriteContext) => T, target: WriteTarget<T>): Promise<WriteOutcome<T>> {
  const outcome = await commitWrite(c, change, target);
  await waitIfAsked(c, outcome.revision);
  return outcome;
}

/**
 * performWrite without the wait: the write, its replication and its headers. A whole-set PUT turns its
 * result into its answer before waiting (waitIfAsked), so that 100k stored items are not held as objects
 * through the whole data-plane apply ?wait=true waits for.
 */
export async function commitWrite<T>(c: Context<ApiEnv>, change: (tx: WriteContext) => T, target: WriteTarget<T>): Promise<WriteOutcome<T>> {
  const deps = c.get("deps");
  const ha = deps.ha;
  const withoutLeader = c.get("withoutLeader");
  // Leadership was checked when the request arrived; it must still hold when the write commits, or the
  // write would enter this gateway's history under a leader it no longer follows.
  const stillLeading = ha && withoutLeader === undefined ? () => {
    if (!ha.isLeader()) throw new AppError("not-ready", "this gateway stopped leading while the write was in flight; send it again");
  } : undefined;
  // The write's own audit records say whether it takes something away (a revocation). Only that is kept:
  // a whole-set replace's records hold every item it changed.
  let revocation = false;
  const db = deps.store.db;
  const ifMatch = c.req.header("if-match");
  const precondition = () => {
    stillLeading?.();
    if (ifMatch !== undefined) requireIfMatch(ifMatch, etagOrNone(target.current(db)));
  };
  let etag: string | undefined;
  const recorded = (tx: WriteContext) => {
    const result = change({ ...tx, audit: (entry: AuditEntry) => {
      revocation ||= revokes(entry);
      tx.audit(entry);
    } });
    etag = etagOrNone(target.after ? target.after(result, tx.db) : target.current(tx.db));
    return result;
  };
  const actor = withoutLeader === undefined ? actorOf(c.get("principal")) : `${actorOf(c.get("principal"))} [without leader: ${withoutLeader}]`;
  const outcome = await deps.store.writeBatched(actor, recorded, precondition, { offLeader: withoutLeader !== undefined, requestId: c.get("requestId") })
    .finally(() => c.get("bulkWriteDone")?.());
  forgetRequestBody(c);
  c.header("Egw-Revision", String(outcome.revision));
  if (etag !== undefined) c.header("ETag", etag);
  if (withoutLeader !== undefined) {
    c.header("Egw-Written-Without-Leader", `${deps.status().gateway}: ${withoutLeader}; a leader's history replaces this write unless this gateway becomes leader`);
    if (outcome.changed) deps.log.warn({ revision: outcome.revision, actor, reason: withoutLeader }, "write committed without a leader, off the leader's history");
  } else if (ha && outcome.changed) {
    await acknowledgeReplication(c, outcome.revision, revocation);
  }
  return outcome;
}

/**
 * A whole-set write (PUT of a cluster's mappings or routes) answered with the whole stored set: the answer's
 * JSON text is made as soon as the write committed, and only that text is held while `?wait=true` waits for
 * the data plane — 100k stored mappings as objects are ≈28 MB, their text less than half.
 */
export async function performSetWrite<T, A>(c: Context<ApiEnv>, change: (tx: WriteContext) => T, target: WriteTarget<T>, answer: (outcome: WriteOutcome<T>) => A): Promise<TypedResponse<A, 200, "json">> {
  const { revision, text } = await commitWrite(c, change, target).then((outcome) => ({ revision: outcome.revision, text: JSON.stringify(answer(outcome)) }));
  await waitIfAsked(c, revision);
  // What c.json(answer) would send; typed as such for the route's declared answer.
  return c.body(text, 200, { "Content-Type": "application/json" }) as unknown as TypedResponse<A, 200, "json">;
}

/** Honours `?wait=true`: waits (bounded) until the data plane has applied `revision`. */
export async function waitIfAsked(c: Context<ApiEnv>, revision: number): Promise<void> {
  if (c.req.query("wait") !== "true") return;
  const deps = c.get("deps");
  const asked = Number(c.req.query("waitTimeoutMs") ?? deps.waitTimeoutMs);
  const timeout = Math.min(Number.isFinite(asked) && asked > 0 ? asked : deps.waitTimeoutMs, deps.waitTimeoutMs);
  await deps.dataplane.waitForRevision(revision, timeout);
  c.header("Egw-Applied-Revision", String(deps.dataplane.appliedRevision()));
}

const etagOrNone = (representation: unknown): string | undefined => (representation === undefined ? undefined : etagOf(representation));
