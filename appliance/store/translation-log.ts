import { join } from "node:path";
import type Database from "better-sqlite3";
import { MIGRATIONS_DIR } from "../paths.js";
import type {
  AttributedEvent, ConntrackEvent, LogGap, SpoolPosition, TranslationLogStore, TranslationPage, TranslationQuery, TranslationRecord,
} from "../translation-model.js";
import { openDatabase, type Db } from "./database.js";
import { migrate, readMigrations } from "./migrate.js";
import { addressBytes, addressText, canonicalAddress } from "./translation-log/address-bytes.js";
import { pruneTranslations, usedBytes } from "./translation-log/prune.js";
import { translationQuerySql, type StartSpan } from "./translation-log/query.js";
import { END_REASONS, protocolName, protocolNumber, RECORD_COLUMNS, recordFromRow, type RecordRow } from "./translation-log/rows.js";

export const TRANSLATION_LOG_MIGRATIONS_DIR = join(MIGRATIONS_DIR, "translation-log");

export interface TranslationLogOptions {
  /** This gateway's name: every record and gap read back carries it (it is the file's owner, not a column). */
  gateway: string;
  /** The kernel's boot id: conntrack ids are only unique within one boot. */
  bootId: string;
  /** The clock for ends the kernel did not date; tests pass their own. */
  now?: () => number;
}

/**
 * Opens (creating and migrating) the translation log's own SQLite file.
 *
 * synchronous=NORMAL, unlike the daemon's store: in WAL mode a commit then survives a crash of the daemon, and
 * only a power loss can take back the last commits — together with the spool position stored in the same
 * transaction, so the pipeline reads those events again from the spool. Nobody was promised durability of a
 * single record, and an fsync per batch would cost more than the 100,000 events a second the log must keep up with.
 */
export function openTranslationLogStore(path: string, options: TranslationLogOptions): TranslationLogStore & TranslationLogExtras {
  const db = openDatabase(path);
  try {
    db.pragma("synchronous = NORMAL");
    // Nothing references anything here; the checks would only cost time on every insert.
    db.pragma("foreign_keys = OFF");
    // 64 MiB of page cache (SQLite's default is 2 MiB): the current hour's part of the two address indexes stays
    // in memory at 50,000 inserts a second (measured: 85,000 → 105,000 inserts a second at 2 million rows).
    db.pragma(`cache_size = ${-64 * 1024}`);
    migrate(db, readMigrations(TRANSLATION_LOG_MIGRATIONS_DIR));
    return new SqliteTranslationLog(db, options);
  } catch (error) {
    db.close();
    throw error;
  }
}

/** What the store offers beyond the shared interface: for the benchmark and the tests. */
export interface TranslationLogExtras {
  /** Bytes the rows and indexes take (the file minus its free pages). */
  usedBytes(): number;
  /** The longest closed connection stored, the lookups' look-back. */
  longestMs(): number;
  /** Connections open in this boot, as the writer tracks them. */
  openCount(): number;
}

const META_LONGEST = "longest_ms";
const META_SPOOL_FILE = "spool_file";
const META_SPOOL_OFFSET = "spool_offset";

class SqliteTranslationLog implements TranslationLogStore, TranslationLogExtras {
  private readonly nameIds = new Map<string, number>();
  private readonly names = new Map<number, string>();
  /**
   * Open connections of this boot, connection key → row id: a destroy finds its row without an index lookup,
   * and a "new" delivered twice is recognised. Rebuilt from the open rows at start.
   */
  private readonly open = new Map<string, number>();
  private longest: number;
  private readonly bootNameId: number;
  private readonly now: () => number;
  private readonly statements: ReturnType<typeof prepare>;

  constructor(private readonly db: Db, private readonly options: TranslationLogOptions) {
    this.now = options.now ?? Date.now;
    this.statements = prepare(db);
    this.loadNames();
    this.bootNameId = this.db.transaction(() => this.intern(options.bootId)).immediate();
    this.longest = Number(this.meta(META_LONGEST) ?? 0);
    const rows = db.prepare(`SELECT id, conntrack_id, protocol, pod_address, pod_port, destination_address, destination_port,
      egress_address, egress_port FROM translations INDEXED BY translations_open WHERE end_ms IS NULL AND boot = ?`).iterate(this.bootNameId);
    for (const row of rows as Iterable<KeyRow & { id: number }>) this.open.set(rowKey(row), row.id);
  }

  commit(events: readonly AttributedEvent[], position: SpoolPosition): { opened: TranslationRecord[]; closed: TranslationRecord[] } {
    const opened: TranslationRecord[] = [];
    const closed: TranslationRecord[] = [];
    const added: string[] = [];
    const removed: [string, number][] = [];
    const longestBefore = this.longest;
    try {
      this.db.transaction(() => {
        for (const event of events) {
          const key = eventKey(event);
          if (event.kind === "new") {
            if (this.open.has(key)) continue;
            const record = this.insert(event, null);
            this.open.set(key, record.id);
            added.push(key);
            opened.push(record);
            continue;
          }
          const endMs = event.endMs ?? this.now();
          const id = this.open.get(key);
          const row = id === undefined ? undefined : this.statements.close.get(endMs, END_REASONS.kernel,
            event.counters?.originalPackets ?? null, event.counters?.originalBytes ?? null,
            event.counters?.replyPackets ?? null, event.counters?.replyBytes ?? null, id) as RecordRow | undefined;
          if (id !== undefined) {
            this.open.delete(key);
            removed.push([key, id]);
          }
          // No open row: its "new" came before the log ran (or pruning took the row); the destroy is the whole record.
          const record = row ? recordFromRow(row, this.options.gateway, (n) => this.nameOf(n)) : this.insert(event, endMs);
          this.noteDuration(record.startMs, endMs);
          closed.push(record);
        }
        this.statements.setMeta.run(META_SPOOL_FILE, position.file);
        this.statements.setMeta.run(META_SPOOL_OFFSET, position.offset);
        if (this.longest !== longestBefore) this.statements.setMeta.run(META_LONGEST, this.longest);
      }).immediate();
    } catch (error) {
      // The transaction rolled back: so does the writer's view of what is open.
      for (const key of added) this.open.delete(key);
      for (const [key, id] of removed) this.open.set(key, id);
      this.longest = longestBefore;
      this.loadNames();
      throw error;
    }
    return { opened, closed };
  }

  position(): SpoolPosition | null {
    const file = this.meta(META_SPOOL_FILE);
    const offset = this.meta(META_SPOOL_OFFSET);
    return file === undefined || offset === undefined ? null : { file: String(file), offset: Number(offset) };
  }

  closeRecordsOfEarlierBoots(currentBootId: string, atMs: number): number {
    return this.db.transaction(() => {
      const current = this.intern(currentBootId);
      const oldest = this.db.prepare(`SELECT min(start_ms) AS start FROM translations INDEXED BY translations_open
        WHERE end_ms IS NULL AND boot != ?`).get(current) as { start: number | null };
      const changes = this.db.prepare(`UPDATE translations INDEXED BY translations_open SET end_ms = ?, end_reason = ?
        WHERE end_ms IS NULL AND boot != ?`).run(atMs, END_REASONS["gateway-restarted"], current).changes;
      if (oldest.start !== null && atMs - oldest.start > this.longest) {
        this.longest = atMs - oldest.start;
        this.statements.setMeta.run(META_LONGEST, this.longest);
      }
      return changes;
    }).immediate();
  }

  openGap(reason: LogGap["reason"], fromMs: number): void {
    this.db.transaction(() => {
      if (this.db.prepare("SELECT 1 FROM gaps WHERE to_ms IS NULL").get() !== undefined) return;
      this.db.prepare("INSERT INTO gaps (gateway, from_ms, to_ms, reason) VALUES (?, ?, NULL, ?)").run(this.options.gateway, fromMs, reason);
    }).immediate();
  }

  closeGap(toMs: number): void {
    this.db.prepare("UPDATE gaps SET to_ms = max(?, from_ms) WHERE to_ms IS NULL").run(toMs);
  }

  query(query: TranslationQuery): TranslationPage {
    const limit = Math.max(1, Math.floor(query.limit));
    const clusterIds = query.clusters?.flatMap((name) => this.nameIds.get(name) ?? []);
    const { text, params } = translationQuerySql(query, this.longest, clusterIds, limit + 1, this.startSpan());
    const rows = this.db.prepare(text).all(params) as RecordRow[];
    const records = rows.slice(0, limit).map((row) => recordFromRow(row, this.options.gateway, (n) => this.nameOf(n)));
    const page: TranslationPage = { records, gaps: this.gaps(query) };
    if (rows.length > limit) page.nextCursor = records.at(-1)?.id;
    return page;
  }

  *openRecords(): Iterable<TranslationRecord> {
    const rows = this.db.prepare(`SELECT ${RECORD_COLUMNS} FROM translations INDEXED BY translations_open WHERE end_ms IS NULL ORDER BY id`).all() as RecordRow[];
    for (const row of rows) yield recordFromRow(row, this.options.gateway, (n) => this.nameOf(n));
  }

  prune(options: { olderThanMs: number; maxBytes: number; batch: number }): number {
    const deleted = pruneTranslations(this.db, options);
    // Pruning by size may take open rows; their destroy then becomes a whole record (see commit).
    return deleted;
  }

  sizeBytes(): number {
    const pageSize = Number(this.db.pragma("page_size", { simple: true }));
    const pages = Number(this.db.pragma("page_count", { simple: true }));
    // A passive checkpoint never waits and reports the WAL's frames; the WAL belongs to the store, and reading it
    // this way needs no file system call outside SQLite.
    const [wal] = this.db.pragma("wal_checkpoint(PASSIVE)") as { log: number }[];
    const walFrames = Math.max(0, wal?.log ?? 0);
    return pages * pageSize + (walFrames > 0 ? 32 + walFrames * (pageSize + 24) : 0);
  }

  usedBytes(): number {
    return usedBytes(this.db);
  }

  longestMs(): number {
    return this.longest;
  }

  openCount(): number {
    return this.open.size;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private insert(event: AttributedEvent, endMs: number | null): TranslationRecord {
    const counters = endMs === null ? null : event.counters ?? null;
    const podAddress = addressBytes(event.podAddress, "podAddress");
    const destinationAddress = addressBytes(event.destinationAddress, "destinationAddress");
    const egressAddress = addressBytes(event.egressAddress, "egressAddress");
    const protocol = protocolNumber(event.protocol, event.protocolNumber);
    const cluster = this.intern(event.cluster);
    const mapping = this.intern(event.mapping);
    const id = Number(this.statements.insert.run(this.bootNameId, event.conntrackId, cluster, mapping, protocol,
      podAddress, event.podPort, destinationAddress, event.destinationPort, egressAddress, event.egressPort,
      event.startMs, endMs, endMs === null ? null : END_REASONS.kernel,
      counters?.originalPackets ?? null, counters?.originalBytes ?? null, counters?.replyPackets ?? null, counters?.replyBytes ?? null,
    ).lastInsertRowid);
    return {
      id, gateway: this.options.gateway, cluster: event.cluster, mapping: event.mapping, protocol: protocolName(protocol),
      family: podAddress.length === 4 ? 4 : 6,
      podAddress: canonicalAddress(event.podAddress), podPort: event.podPort,
      destinationAddress: canonicalAddress(event.destinationAddress), destinationPort: event.destinationPort,
      egressAddress: canonicalAddress(event.egressAddress), egressPort: event.egressPort,
      startMs: event.startMs, endMs, endReason: endMs === null ? null : "kernel", counters,
    };
  }

  private startSpan(): StartSpan {
    const first = (this.statements.firstStart.get() as { start: number | null }).start;
    const last = (this.statements.lastStart.get() as { start: number | null }).start;
    return first === null || last === null ? null : { first, last };
  }

  private noteDuration(startMs: number, endMs: number): void {
    if (endMs - startMs > this.longest) this.longest = endMs - startMs;
  }

  private gaps(query: TranslationQuery): LogGap[] {
    const from = query.atMs ?? query.fromMs ?? Number.MIN_SAFE_INTEGER;
    const to = query.atMs ?? query.toMs ?? Number.MAX_SAFE_INTEGER;
    const rows = this.db.prepare(`SELECT gateway, from_ms, to_ms, reason FROM gaps
      WHERE from_ms <= ? AND (to_ms IS NULL OR to_ms >= ?) ORDER BY from_ms`).all(to, from) as
      { gateway: string; from_ms: number; to_ms: number | null; reason: LogGap["reason"] }[];
    return rows.map((row) => ({ gateway: row.gateway, fromMs: row.from_ms, toMs: row.to_ms, reason: row.reason }));
  }

  /** The interned id of a cluster, mapping or boot name; call inside a write transaction. */
  private intern(name: string): number {
    const known = this.nameIds.get(name);
    if (known !== undefined) return known;
    const id = Number(this.statements.intern.run(name).lastInsertRowid);
    this.remember(id, name);
    return id;
  }

  /** Names as stored: at start, and after a rolled-back commit that may have interned some. */
  private loadNames(): void {
    this.nameIds.clear();
    this.names.clear();
    for (const row of this.db.prepare("SELECT id, name FROM names").all() as { id: number; name: string }[]) this.remember(row.id, row.name);
  }

  private remember(id: number, name: string): void {
    this.nameIds.set(name, id);
    this.names.set(id, name);
  }

  private nameOf(id: number): string {
    return this.names.get(id) ?? `#${id}`;
  }

  private meta(key: string): unknown {
    return (this.statements.getMeta.get(key) as { value: unknown } | undefined)?.value;
  }
}

function prepare(db: Db): Record<"insert" | "close" | "intern" | "getMeta" | "setMeta" | "firstStart" | "lastStart", Database.Statement> {
  return {
    firstStart: db.prepare("SELECT min(start_ms) AS start FROM translations"),
    lastStart: db.prepare("SELECT max(start_ms) AS start FROM translations"),
    insert: db.prepare(`INSERT INTO translations (boot, conntrack_id, cluster, mapping, protocol, pod_address, pod_port,
      destination_address, destination_port, egress_address, egress_port, start_ms, end_ms, end_reason,
      original_packets, original_bytes, reply_packets, reply_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    close: db.prepare(`UPDATE translations SET end_ms = ?, end_reason = ?, original_packets = ?, original_bytes = ?,
      reply_packets = ?, reply_bytes = ? WHERE id = ? AND end_ms IS NULL RETURNING ${RECORD_COLUMNS}`),
    intern: db.prepare("INSERT INTO names (name) VALUES (?)"),
    getMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
    setMeta: db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
  };
}

interface KeyRow {
  conntrack_id: number;
  protocol: number;
  pod_address: Buffer;
  pod_port: number;
  destination_address: Buffer;
  destination_port: number;
  egress_address: Buffer;
  egress_port: number;
}

/** One connection of this boot: the conntrack id with the whole tuple (ids are reused). */
function eventKey(event: ConntrackEvent): string {
  return `${event.conntrackId} ${protocolNumber(event.protocol, event.protocolNumber)} ${canonicalAddress(event.podAddress, "podAddress")} ${event.podPort} `
    + `${canonicalAddress(event.destinationAddress, "destinationAddress")} ${event.destinationPort} ${canonicalAddress(event.egressAddress, "egressAddress")} ${event.egressPort}`;
}

function rowKey(row: KeyRow): string {
  return `${row.conntrack_id} ${row.protocol} ${addressText(row.pod_address)} ${row.pod_port} `
    + `${addressText(row.destination_address)} ${row.destination_port} ${addressText(row.egress_address)} ${row.egress_port}`;
}
