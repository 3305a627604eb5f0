import type { Store } from "../../appliance/store/store.js";
import { etagOfJson } from "./etag.js";

/** The answer of a GET of one item: its JSON, as the route would send it, and that JSON's ETag. */
export interface ItemAnswer {
  body: string;
  etag: string;
}

/** Bytes of JSON kept at most; past it the cache starts over (a mapping is a few hundred bytes, at most 64 KiB). */
const MAX_BYTES = 4 * 1024 * 1024;

/**
 * Recent answers of GETs of single items, so that reading the same item again costs no SQLite query, no JSON and
 * no hash. Everything is forgotten on every revision the store commits — its one write path announces each,
 * synchronously after the commit, replicated revisions and snapshots included — so an answer is always the one the
 * store would give now: the same body and the same (strong) ETag. Only items that exist are kept; the caller checks
 * access before asking, with the cluster in the key.
 */
export class ItemAnswers {
  private readonly answers = new Map<string, ItemAnswer>();
  private bytes = 0;

  constructor(store: Store) {
    store.on("committed", () => this.forget());
  }

  /** The answer for `key` (which must name one item of one owner), read with `read` unless known. */
  answer(key: string, read: () => unknown): ItemAnswer | undefined {
    const known = this.answers.get(key);
    if (known) return known;
    const item = read();
    if (item === undefined) return undefined;
    const body = JSON.stringify(item);
    const fresh = { body, etag: etagOfJson(body) };
    if (this.bytes + body.length > MAX_BYTES) this.forget();
    this.answers.set(key, fresh);
    this.bytes += body.length;
    return fresh;
  }

  private forget(): void {
    this.answers.clear();
    this.bytes = 0;
  }
}

const byStore = new WeakMap<Store, ItemAnswers>();

/** The answers of one store (made on first use: the API is also built without a store, for its OpenAPI document). */
export function itemAnswers(store: Store): ItemAnswers {
  let answers = byStore.get(store);
  if (!answers) {
    answers = new ItemAnswers(store);
    byStore.set(store, answers);
  }
  return answers;
}
