import { join } from "node:path";
import type Database from "better-sqlite3";
import { MIGRATIONS_DIR } from "../paths.js";
import type {
  AttributedEvent, CommitResult, ConntrackEvent, EndReason, LogGap, SpoolPosition, TrafficCounters, TranslationLogStore, TranslationPage, TranslationQuery, TranslationRecord,
} from "../translation-model.js";
import { openDatabase, type Db } from "./database.js";
import { migrate, readMigrations } from "./migrate.js";
import { addressBytes, addressText, canonicalAddress } from "./translation-log/address-bytes.js";
import { pruneTranslations, usedBytes } from "./translation-log/prune.js";
import { META_LONGEST, TranslationLogReader } from "./translation-log/reader.js";
import { END_REASONS, OPEN_RECORD_COLUMNS, RECORD_COLUMNS, protocolName, protocolNumber, recordFromRow, type RecordRow } from "./translation-log/rows.js";

export const TRANSLATION_LOG_MIGRATIONS_DIR = join(MIGRATIONS_DIR, "translation-log");

/** Pages of WAL (4 KiB each) between the writer's checkpoints. */
const WAL_CHECKPOINT_PAGES = 32_768;

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
    // Checkpoint every WAL_CHECKPOINT_PAGES, not SQLite's 1,000 pages: one commit of 4,000 events at 10 million rows
    // dirties more than 1,000 pages, so each commit checkpointed (copied its pages into the file and fsynced both).
    // A page the next commits touch again is copied once per checkpoint instead. Measured at 10 million rows:
    // 33,000 → 60,000 events a second with 20,000 pages. The WAL file is kept at the size it needs.
    db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    db.pragma(`journal_size_limit = ${WAL_CHECKPOINT_PAGES * 4096 * 2}`);
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

const META_SPOOL_FILE = "spool_file";
const META_SPOOL_OFFSET = "spool_offset";

const META_NEXT_ID = "next_id";

/** What the writer remembers of an open connection: enough to write its closed record without reading it back. */
interface OpenConnection {
  id: number;
  startMs: number;
  cluster: string;
  mapping: string;
}

class SqliteTranslationLog implements TranslationLogStore, TranslationLogExtras {
  private readonly nameIds = new Map<string, number>();
  private readonly names = new Map<number, string>();
  /**
   * Open connections of this boot by connection key: a destroy moves its row without a lookup by tuple, and a
   * "new" delivered twice is recognised. Rebuilt from open_translations at start.
   */
  private readonly open = new Map<string, OpenConnection>();
  private longest: number;
  /** The next record id; stored in meta with every commit, so ids only grow, whatever pruning removed. */
  private nextId: number;
  private readonly bootNameId: number;
  private readonly now: () => number;
  private readonly statements: ReturnType<typeof prepare>;
  private readonly reader: TranslationLogReader;

  constructor(private readonly db: Db, private readonly options: TranslationLogOptions) {
    this.now = options.now ?? Date.now;
    this.statements = prepare(db);
    this.loadNames();
    this.reader = new TranslationLogReader(db, options.gateway);
    this.bootNameId = this.db.transaction(() => this.intern(options.bootId)).immediate();
    this.longest = Number(this.meta(META_LONGEST) ?? 0);
    const maxId = db.prepare("SELECT max((SELECT max(id) FROM translations), (SELECT max(id) FROM open_translations)) AS id").get() as { id: number | null };
    this.nextId = Math.max(Number(this.meta(META_NEXT_ID) ?? 1), (maxId.id ?? 0) + 1);
    const rows = db.prepare(`SELECT id, conntrack_id, cluster, mapping, protocol, pod_address, pod_port, destination_address, destination_port,
      egress_address, egress_port, start_ms FROM open_translations WHERE boot = ?`).iterate(this.bootNameId);
    for (const row of rows as Iterable<OpenRow>) {
      this.open.set(rowKey(row), { id: row.id, startMs: row.start_ms, cluster: this.nameOf(row.cluster), mapping: this.nameOf(row.mapping) });
    }
  }

  commit(events: readonly AttributedEvent[], position: SpoolPosition): CommitResult {
    const opened: TranslationRecord[] = [];
    const closed: TranslationRecord[] = [];
    let recovered = 0;
    let unattributedDropped = 0;
    const added: string[] = [];
    const removed: [string, OpenConnection][] = [];
    const longestBefore = this.longest;
    const nextIdBefore = this.nextId;
    const { insertOpen, insertClosed, setMeta } = this.statements;
    try {
      this.db.transaction(() => {
        for (const event of events) {
          const tuple = canonicalTuple(event);
          const key = tupleKey(event.conntrackId, tuple, event);
          if (event.kind === "new") {
            if (this.open.has(key)) continue;
            const id = this.nextId++;
            const cluster = this.intern(event.cluster);
            const mapping = this.intern(event.mapping);
            insertOpen.run(id, this.bootNameId, event.conntrackId, cluster, mapping, tuple.protocol, addressBytes(tuple.pod), event.podPort,
              addressBytes(tuple.destination), event.destinationPort, addressBytes(tuple.egress), event.egressPort, event.startMs);
            // The interned names, not the event's strings: a few hundred thousand open connections share them.
            this.open.set(key, { id, startMs: event.startMs, cluster: this.nameOf(cluster), mapping: this.nameOf(mapping) });
            added.push(key);
            opened.push(record(id, this.options.gateway, event.cluster, event.mapping, tuple, event, event.startMs, null, null, null));
            continue;
          }
          const endMs = event.endMs ?? this.now();
          const counters = event.counters ?? null;
          const known = this.open.get(key);
          if (known !== undefined) {
            this.open.delete(key);
            removed.push([key, known]);
            // Its open row's start, cluster and mapping stand (the mapping in force when it was logged), whether or
            // not a mapping explains the end now.
            if (this.moveToClosed(known, endMs, "kernel", counters)) {
              closed.push(record(known.id, this.options.gateway, known.cluster, known.mapping, tuple, event, known.startMs, endMs, "kernel", counters));
              continue;
            }
          }
          if (event.cluster === null) {
            // Neither an open record to close nor an owner to write a whole record for.
            unattributedDropped++;
            continue;
          }
          // No open row: its "new" came before the log ran (or pruning took the row); the destroy is the whole record.
          const id = this.nextId++;
          insertClosed.run(id, this.intern(event.cluster), this.intern(event.mapping), tuple.protocol, addressBytes(tuple.pod), event.podPort,
            addressBytes(tuple.destination), event.destinationPort, addressBytes(tuple.egress), event.egressPort, event.startMs, endMs, END_REASONS.kernel,
            counters?.originalPackets ?? null, counters?.originalBytes ?? null, counters?.replyPackets ?? null, counters?.replyBytes ?? null);
          this.noteDuration(event.startMs, endMs);
          recovered++;
          closed.push(record(id, this.options.gateway, event.cluster, event.mapping, tuple, event, event.startMs, endMs, "kernel", counters));
        }
        setMeta.run(META_SPOOL_FILE, position.file);
        setMeta.run(META_SPOOL_OFFSET, position.offset);
        if (this.nextId !== nextIdBefore) setMeta.run(META_NEXT_ID, this.nextId);
        if (this.longest !== longestBefore) setMeta.run(META_LONGEST, this.longest);
      }).immediate();
    } catch (error) {
      // The transaction rolled back: so does the writer's view of what is open.
      for (const key of added) this.open.delete(key);
      for (const [key, known] of removed) this.open.set(key, known);
      this.longest = longestBefore;
      this.nextId = nextIdBefore;
      this.loadNames();
      throw error;
    }
    return { opened, closed, recovered, unattributedDropped };
  }

  closeOpenRecords(ids: readonly number[], atMs: number, reason: "log-interrupted"): TranslationRecord[] {
    const wanted = new Set(ids);
    if (wanted.size === 0) return [];
    const closing = [...this.open].filter(([, known]) => wanted.has(known.id));
    const closedIds: number[] = [];
    const longestBefore = this.longest;
    try {
      this.db.transaction(() => {
        for (const [, known] of closing) {
          // An end before the start would be a clock that stepped back; the record then ends where it began.
          if (this.moveToClosed(known, Math.max(atMs, known.startMs), reason, null)) closedIds.push(known.id);
        }
        if (this.longest !== longestBefore) this.statements.setMeta.run(META_LONGEST, this.longest);
      }).immediate();
    } catch (error) {
      this.longest = longestBefore;
      throw error;
    }
    for (const [key] of closing) this.open.delete(key);
    if (closedIds.length === 0) return [];
    const rows = this.db.prepare(`SELECT ${RECORD_COLUMNS} FROM translations WHERE id IN (${closedIds.join(", ")}) ORDER BY id`).all() as RecordRow[];
    return rows.map((row) => recordFromRow(row, this.options.gateway, (n) => this.nameOf(n)));
  }

  /** Moves an open row into translations with its end; false when the row was not there (pruning took it). */
  private moveToClosed(known: OpenConnection, endMs: number, reason: EndReason, counters: TrafficCounters | null): boolean {
    const moved = this.statements.moveClosed.run(endMs, END_REASONS[reason], counters?.originalPackets ?? null, counters?.originalBytes ?? null,
      counters?.replyPackets ?? null, counters?.replyBytes ?? null, known.id).changes;
    if (moved !== 1) return false;
    this.statements.deleteOpen.run(known.id);
    this.noteDuration(known.startMs, endMs);
    return true;
  }

  position(): SpoolPosition | null {
    const file = this.meta(META_SPOOL_FILE);
    const offset = this.meta(META_SPOOL_OFFSET);
    return file === undefined || offset === undefined ? null : { file: String(file), offset: Number(offset) };
  }

  closeRecordsOfEarlierBoots(currentBootId: string, atMs: number): number {
    return this.db.transaction(() => {
      const current = this.intern(currentBootId);
      const oldest = this.db.prepare("SELECT min(start_ms) AS start FROM open_translations WHERE boot != ?").get(current) as { start: number | null };
      const changes = this.db.prepare(`INSERT INTO translations (${CLOSED_COLUMNS})
        SELECT id, cluster, mapping, protocol, pod_address, pod_port, destination_address, destination_port, egress_address, egress_port,
          start_ms, ?, ?, NULL, NULL, NULL, NULL FROM open_translations WHERE boot != ?`).run(atMs, END_REASONS["gateway-restarted"], current).changes;
      this.db.prepare("DELETE FROM open_translations WHERE boot != ?").run(current);
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

  /** On the writer's connection and thread: the daemon answers lookups from a worker instead (TranslationLookups). */
  query(query: TranslationQuery): TranslationPage {
    return this.reader.query(query);
  }

  *openRecords(): Iterable<TranslationRecord> {
    const rows = this.db.prepare(`SELECT ${OPEN_RECORD_COLUMNS} FROM open_translations ORDER BY id`).all() as RecordRow[];
    for (const row of rows) yield recordFromRow(row, this.options.gateway, (n) => this.nameOf(n));
  }

  prune(options: { olderThanMs: number; maxBytes: number; batch: number }): number {
    const deleted = pruneTranslations(this.db, options);
    // Pruning by size may take open rows; their destroy then becomes a whole record under a new id (see commit).
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

  private noteDuration(startMs: number, endMs: number): void {
    if (endMs - startMs > this.longest) this.longest = endMs - startMs;
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

/** The columns of translations, in the order the inserts give them. */
const CLOSED_COLUMNS = `id, cluster, mapping, protocol, pod_address, pod_port, destination_address, destination_port, egress_address,
  egress_port, start_ms, end_ms, end_reason, original_packets, original_bytes, reply_packets, reply_bytes`;

function prepare(db: Db): Record<"insertOpen" | "moveClosed" | "deleteOpen" | "insertClosed" | "intern" | "getMeta" | "setMeta", Database.Statement> {
  return {
    insertOpen: db.prepare(`INSERT INTO open_translations (id, boot, conntrack_id, cluster, mapping, protocol, pod_address, pod_port,
      destination_address, destination_port, egress_address, egress_port, start_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    moveClosed: db.prepare(`INSERT INTO translations (${CLOSED_COLUMNS})
      SELECT id, cluster, mapping, protocol, pod_address, pod_port, destination_address, destination_port, egress_address, egress_port,
        start_ms, ?, ?, ?, ?, ?, ? FROM open_translations WHERE id = ?`),
    deleteOpen: db.prepare("DELETE FROM open_translations WHERE id = ?"),
    insertClosed: db.prepare(`INSERT INTO translations (${CLOSED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    intern: db.prepare("INSERT INTO names (name) VALUES (?)"),
    getMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
    setMeta: db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
  };
}

/** A row of open_translations: a record's columns before its end, with the conntrack id that pairs the destroy. */
type OpenRow = Omit<RecordRow, "end_ms" | "end_reason" | "original_packets" | "original_bytes" | "reply_packets" | "reply_bytes"> & { conntrack_id: number };

/** An event's protocol number and addresses as read back (canonical text): the connection's key and its record. */
interface CanonicalTuple {
  protocol: number;
  pod: string;
  destination: string;
  egress: string;
}

function canonicalTuple(event: ConntrackEvent): CanonicalTuple {
  return {
    protocol: protocolNumber(event.protocol, event.protocolNumber),
    pod: canonicalAddress(event.podAddress, "podAddress"),
    destination: canonicalAddress(event.destinationAddress, "destinationAddress"),
    egress: canonicalAddress(event.egressAddress, "egressAddress"),
  };
}

/** One connection of this boot: the conntrack id with the whole tuple (ids are reused). */
function tupleKey(conntrackId: number, tuple: CanonicalTuple, ports: { podPort: number; destinationPort: number; egressPort: number }): string {
  return `${conntrackId} ${tuple.protocol} ${tuple.pod} ${ports.podPort} ${tuple.destination} ${ports.destinationPort} ${tuple.egress} ${ports.egressPort}`;
}

function rowKey(row: OpenRow): string {
  return `${row.conntrack_id} ${row.protocol} ${addressText(row.pod_address)} ${row.pod_port} `
    + `${addressText(row.destination_address)} ${row.destination_port} ${addressText(row.egress_address)} ${row.egress_port}`;
}

function record(id: number, gateway: string, cluster: string, mapping: string, tuple: CanonicalTuple, event: ConntrackEvent,
  startMs: number, endMs: number | null, endReason: EndReason | null, counters: TrafficCounters | null): TranslationRecord {
  return {
    id, gateway, cluster, mapping, protocol: protocolName(tuple.protocol), family: tuple.pod.includes(":") ? 6 : 4,
    podAddress: tuple.pod, podPort: event.podPort, destinationAddress: tuple.destination, destinationPort: event.destinationPort,
    egressAddress: tuple.egress, egressPort: event.egressPort, startMs, endMs, endReason, counters,
  };
}
