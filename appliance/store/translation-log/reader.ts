import type Database from "better-sqlite3";
import type { LogGap, TranslationPage, TranslationQuery } from "../../translation-model.js";
import type { Db } from "../database.js";
import { translationQuerySql, type StartSpan } from "./query.js";
import { recordFromRow, type RecordRow } from "./rows.js";

/** The meta key under which the writer keeps the longest closed connection (the lookups' look-back). */
export const META_LONGEST = "longest_ms";

/**
 * Answers lookups from a connection to the translation log: the writer's own, or a read-only one in the lookup
 * worker. Everything it needs is read from the file, so a reader beside the writer sees each commit whole (WAL):
 * the look-back from meta, names from `names`, re-read when a row names one interned after they were read.
 */
export class TranslationLogReader {
  private readonly nameIds = new Map<string, number>();
  private readonly names = new Map<number, string>();
  private readonly statements: Record<"names" | "longest" | "firstStart" | "lastStart" | "gaps", Database.Statement>;

  constructor(private readonly db: Db, private readonly gateway: string) {
    this.statements = {
      names: db.prepare("SELECT id, name FROM names"),
      longest: db.prepare("SELECT value FROM meta WHERE key = ?"),
      firstStart: db.prepare("SELECT min(start_ms) AS start FROM translations"),
      lastStart: db.prepare("SELECT max(start_ms) AS start FROM translations"),
      gaps: db.prepare("SELECT gateway, from_ms, to_ms, reason FROM gaps WHERE from_ms <= ? AND (to_ms IS NULL OR to_ms >= ?) ORDER BY from_ms"),
    };
    this.loadNames();
  }

  /**
   * One page, newest start first. Optional `rows` replaces reading the statement's rows (the worker steps through
   * them so that it can be stopped between rows); it gets the statement and its parameters.
   */
  query(query: TranslationQuery, rows: (statement: Database.Statement, params: Record<string, unknown>) => RecordRow[] = (s, p) => s.all(p) as RecordRow[]): TranslationPage {
    const limit = Math.max(1, Math.floor(query.limit));
    const clusterIds = query.clusters === undefined ? undefined : this.clusterIds(query.clusters);
    const longest = Number((this.statements.longest.get(META_LONGEST) as { value: unknown } | undefined)?.value ?? 0);
    const { text, params } = translationQuerySql(query, longest, clusterIds, limit + 1, this.startSpan());
    const found = rows(this.db.prepare(text), params);
    if (found.some((row) => !this.names.has(row.cluster) || !this.names.has(row.mapping))) this.loadNames();
    const records = found.slice(0, limit).map((row) => recordFromRow(row, this.gateway, (id) => this.names.get(id) ?? `#${id}`));
    const page: TranslationPage = { records, gaps: this.gaps(query) };
    const last = records.at(-1);
    if (found.length > limit && last) page.nextCursor = { startMs: last.startMs, id: last.id };
    return page;
  }

  /** Names the reader has not seen may have been interned since it read them: read again once before giving up. */
  private clusterIds(names: readonly string[]): number[] {
    if (names.some((name) => !this.nameIds.has(name))) this.loadNames();
    return names.flatMap((name) => this.nameIds.get(name) ?? []);
  }

  private loadNames(): void {
    this.nameIds.clear();
    this.names.clear();
    for (const row of this.statements.names.all() as { id: number; name: string }[]) {
      this.nameIds.set(row.name, row.id);
      this.names.set(row.id, row.name);
    }
  }

  private startSpan(): StartSpan {
    const first = (this.statements.firstStart.get() as { start: number | null }).start;
    const last = (this.statements.lastStart.get() as { start: number | null }).start;
    return first === null || last === null ? null : { first, last };
  }

  private gaps(query: TranslationQuery): LogGap[] {
    const from = query.atMs ?? query.fromMs ?? Number.MIN_SAFE_INTEGER;
    const to = query.atMs ?? query.toMs ?? Number.MAX_SAFE_INTEGER;
    const rows = this.statements.gaps.all(to, from) as { gateway: string; from_ms: number; to_ms: number | null; reason: LogGap["reason"] }[];
    return rows.map((row) => ({ gateway: row.gateway, fromMs: row.from_ms, toMs: row.to_ms, reason: row.reason }));
  }
}
