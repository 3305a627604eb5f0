import type { Context } from "hono";
import { notModified } from "./etag.js";
import { paginate, type PagedSource, type SortKey } from "./pagination.js";

export interface ListPage<T> {
  items: T[];
  next: string | null;
  /** If-None-Match names this page's ETag: answer 304. */
  notModified: boolean;
}

/**
 * One page of a list, with its Link header and its ETag. The ETag of the whole list is the one its writes
 * (a whole-set PUT, a POST of one item) compare If-Match to; a partial page has a tag of its own, good for
 * If-None-Match only.
 */
export function listPage<T>(c: Context, items: readonly T[] | PagedSource<T>, keyOf: (item: T) => SortKey, descending = false): ListPage<T> {
  const page = paginate(c, items, keyOf, descending);
  const representation = page.whole ? page.items : { items: page.items, next: page.next };
  return { items: page.items, next: page.next, notModified: notModified(c, representation) };
}
