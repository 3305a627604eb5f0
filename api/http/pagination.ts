import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { invalidField } from "../../appliance/errors.js";

export const PAGE_LIMIT_MAX = 1000;

/**
 * `limit` and `cursor` of every list. Without `limit` the whole list is answered, as before pagination
 * existed: existing clients and the CLI keep working, and `next` is null.
 */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(PAGE_LIMIT_MAX).optional()
    .openapi({ description: `At most this many items (1 to ${PAGE_LIMIT_MAX}). Left out: the whole list, and \`next\` is null.` }),
  cursor: z.string().max(2048).optional()
    .openapi({ description: "Opaque: the `next` of the previous page (also in its `Link: <…>; rel=\"next\"` header)." }),
});

export const nextField = z.string().nullable()
  .openapi({ description: "The cursor of the next page, or null on the last page (and whenever `limit` is left out)." });

/** A list's order, as a tuple compared element by element: the cursor carries the last item's tuple. */
export type SortKey = readonly (string | number)[];

export interface Page<T> {
  items: T[];
  next: string | null;
  /** Whether the page is the whole list: then its ETag is the collection's, the one its writes compare If-Match to. */
  whole: boolean;
}

/**
 * A list that can answer one page itself (a store query with `> key ORDER BY … LIMIT`), so that paging
 * through a large list does not read it whole for every page.
 */
export interface PagedSource<T> {
  all(): readonly T[];
  /** Up to `count` items after `key` (from the start without one), in the list's order. */
  after(key: SortKey | undefined, count: number): readonly T[];
}

/**
 * One page of a list in the order of `keyOf` (ascending, or descending with `descending`; the stores' lists
 * already come in that order, so the sort of an array only settles ties). The page starts after the
 * cursor's key, so items added or removed between two calls never make a page repeat or skip one that
 * stayed. Sets the RFC 8288 Link header when there is a next page.
 */
export function paginate<T>(c: Context, list: readonly T[] | PagedSource<T>, keyOf: (item: T) => SortKey, descending = false, defaultLimit?: number): Page<T> {
  const source = isPagedSource(list) ? list : sortedSource(list, keyOf, descending);
  // A list too long to answer whole (the audit log) pages even without `limit`.
  const limitText = c.req.query("limit") ?? (defaultLimit === undefined ? undefined : String(defaultLimit));
  const cursorText = c.req.query("cursor");
  if (limitText === undefined) {
    if (cursorText !== undefined) throw invalidField("limit", "a cursor needs the limit it was paged with");
    return { items: [...source.all()], next: null, whole: true };
  }
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > PAGE_LIMIT_MAX) throw invalidField("limit", `must be a whole number from 1 to ${PAGE_LIMIT_MAX}`);
  const after = cursorText === undefined ? undefined : decodeCursor(cursorText);
  // One more than asked: whether it comes tells whether there is a next page.
  const fetched = source.after(after, limit + 1);
  const items = fetched.slice(0, limit);
  const last = items.at(-1);
  const next = fetched.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null;
  if (next !== null) {
    const url = new URL(c.req.url);
    url.searchParams.set("cursor", next);
    c.header("Link", `<${url.pathname}${url.search}>; rel="next"`);
  }
  return { items, next, whole: after === undefined && next === null };
}

function isPagedSource<T>(list: readonly T[] | PagedSource<T>): list is PagedSource<T> {
  return !Array.isArray(list);
}

function sortedSource<T>(unsorted: readonly T[], keyOf: (item: T) => SortKey, descending: boolean): PagedSource<T> {
  const sign = descending ? -1 : 1;
  const keyed = unsorted.map((item) => ({ item, key: keyOf(item) })).sort((a, b) => sign * compareKeys(a.key, b.key));
  return {
    all: () => keyed.map((k) => k.item),
    after: (key, count) => {
      const start = key === undefined ? 0 : firstIndexAfter(keyed, (k) => sign * compareKeys(k.key, key) > 0);
      return keyed.slice(start, start + count).map((k) => k.item);
    },
  };
}

function firstIndexAfter<T>(items: readonly T[], isAfter: (item: T) => boolean): number {
  const index = items.findIndex(isAfter);
  return index === -1 ? items.length : index;
}

export function compareKeys(a: SortKey, b: SortKey): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x === "number" && typeof y === "number") return x < y ? -1 : 1;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

export function encodeCursor(key: SortKey): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

function decodeCursor(text: string): SortKey {
  let key: unknown;
  try {
    key = /^[A-Za-z0-9_-]+$/.test(text) ? JSON.parse(Buffer.from(text, "base64url").toString("utf8")) : undefined;
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length === 0 || !key.every((part) => typeof part === "string" || typeof part === "number")) {
    throw invalidField("cursor", "not a cursor this API returned; start again without one");
  }
  return key as SortKey;
}
