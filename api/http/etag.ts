import { hash } from "node:crypto";
import type { Context } from "hono";
import { AppError } from "../../appliance/errors.js";

/**
 * Entity tags are computed from a resource's representation (the JSON its GET answers), not from the
 * store's global revision: a write elsewhere (another cluster, another mapping) leaves this resource's tag
 * as it was, so automation's If-Match fails only when what it read has really changed. The same state
 * gives the same tag on every gateway of a group (a backup's GET, a write forwarded to the leader), and
 * the tag survives changelog pruning, snapshots and restores. Strong: equal tags mean byte-equal JSON of
 * what was hashed — for a cluster, its stored fields only, not the usage and quotas in force its answer adds
 * (api/routes/clusters.ts).
 */
export function etagOf(representation: unknown): string {
  return etagOfJson(JSON.stringify(representation));
}

/** The tag of a representation already serialized (JSON.stringify of what etagOf would be given). */
export function etagOfJson(json: string): string {
  // The one-shot hash: no Hash object per request.
  return `"${hash("sha256", json, "base64url").slice(0, 27)}"`;
}

/**
 * RFC 9110 13.1.1 with the strong comparison: `*` holds when the resource exists, a list holds when one of
 * its tags equals the current one. A weak tag (W/"…") never matches; an unquoted value matches nothing.
 */
export function ifMatchHolds(header: string, current: string | undefined): boolean {
  const value = header.trim();
  if (value === "*") return current !== undefined;
  if (current === undefined) return false;
  return value.split(",").some((tag) => tag.trim() === current);
}

/** Throws the 412 problem when If-Match does not hold; the current tag travels back so the client can re-read. */
export function requireIfMatch(header: string | undefined, current: string | undefined): void {
  if (header === undefined || ifMatchHolds(header, current)) return;
  const reason = current === undefined ? "the resource does not exist" : `the resource's current ETag is ${current}`;
  throw new AppError("precondition-failed", `If-Match ${header.trim()} does not hold: ${reason}; nothing was changed (read it again and retry)`,
    { fields: [{ field: "If-Match", reason }], headers: current === undefined ? {} : { ETag: current } });
}

/**
 * Sets the ETag of a GET's answer and says whether If-None-Match already names it (RFC 9110 13.1.2, weak
 * comparison): then the route answers 304 without a body.
 */
export function notModified(c: Context, representation: unknown): boolean {
  return notModifiedTag(c, etagOf(representation));
}

/** notModified, for a caller that has the tag already. */
export function notModifiedTag(c: Context, etag: string): boolean {
  c.header("ETag", etag);
  const ifNoneMatch = c.req.header("if-none-match");
  return ifNoneMatch !== undefined && noneMatchFails(ifNoneMatch, etag);
}

function noneMatchFails(header: string, current: string): boolean {
  const value = header.trim();
  if (value === "*") return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  return value.split(",").some((tag) => opaque(tag) === current);
}
