/**
 * The translation log's shapes: what the kernel reports about one source-NAT translation, what the log stores
 * about it, and what a reverse lookup asks. Plain data, shared by the ingest pipeline, the store, the exports,
 * the port tally and the API; no behaviour.
 */

export type TransportProtocol = "tcp" | "udp" | "icmp" | "icmpv6" | "sctp" | "other";

/** The IANA protocol numbers of the protocols named above; any other number is "other". */
export const TRANSPORT_PROTOCOLS: Readonly<Record<number, TransportProtocol>> = { 6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp" };

/**
 * One conntrack event of a translated connection, as the kernel's NAT tuples give it: the original direction
 * is pod → destination, the reply direction is destination → egress IP:port (the translation the kernel chose).
 */
export interface ConntrackEvent {
  kind: "new" | "destroy";
  /** The kernel's conntrack id (32 bit, reused over time: only unique together with the tuple and boot). */
  conntrackId: number;
  protocol: TransportProtocol;
  /** IANA protocol number (6, 17, 1, 58, 132, …). */
  protocolNumber: number;
  family: 4 | 6;
  podAddress: string;
  /** 0 for protocols without ports (ICMP: the echo id is in podPort/egressPort when the kernel gives it). */
  podPort: number;
  destinationAddress: string;
  destinationPort: number;
  egressAddress: string;
  egressPort: number;
  /** Milliseconds since the epoch; from the kernel's conntrack timestamp (flow.start), else the reading time. */
  startMs: number;
  /** Destroy events only: when the kernel removed the connection. */
  endMs?: number;
  /** Conntrack accounting; present on destroy events (zero when accounting was off). */
  counters?: TrafficCounters;
}

export interface TrafficCounters {
  originalPackets: number;
  originalBytes: number;
  replyPackets: number;
  replyBytes: number;
}

/** A stored translation: the event joined with who owned it (the mapping in force when it was logged). */
export interface TranslationRecord {
  /**
   * Store-assigned when the connection is first seen, increasing in that order and kept. Not in start order (a
   * record written from its end event, or moved by a failover, gets its id late): pages go by (startMs, id).
   */
  id: number;
  gateway: string;
  cluster: string;
  mapping: string;
  protocol: TransportProtocol;
  family: 4 | 6;
  podAddress: string;
  podPort: number;
  destinationAddress: string;
  destinationPort: number;
  egressAddress: string;
  egressPort: number;
  startMs: number;
  /** Absent while the connection is open (as far as this gateway knows). */
  endMs: number | null;
  /**
   * How the end is known: "kernel" (destroy event), or "gateway-restarted" (the kernel that held it rebooted
   * before reporting its end; endMs is then when the log started again after the reboot, an upper bound), or
   * "log-interrupted" (the kernel ended it, in this boot, while the log was not recording, so its end event never
   * came; endMs is when the log noticed, an upper bound), or null while open.
   */
  endReason: EndReason | null;
  counters: TrafficCounters | null;
}

export type EndReason = "kernel" | "gateway-restarted" | "log-interrupted";

/** A stretch of time in which this gateway's log was not listening (stopped, disk full, restarting). */
export interface LogGap {
  gateway: string;
  fromMs: number;
  /** null while the gap is still open. */
  toMs: number | null;
  reason: "not-running" | "disk-full" | "store-error";
}

/** A reverse lookup: at least one of the selectors, and either an instant or a bounded range. */
export interface TranslationQuery {
  egressAddress?: string;
  egressPort?: number;
  podAddress?: string;
  destinationAddress?: string;
  destinationPort?: number;
  protocol?: TransportProtocol;
  /** Connections open at this instant (start ≤ at ≤ end, or still open). */
  atMs?: number;
  /** Connections that overlap [fromMs, toMs]. */
  fromMs?: number;
  toMs?: number;
  /** Only these clusters' translations (a cluster token's view); absent: all (admin). */
  clusters?: readonly string[];
  /** Page size. */
  limit: number;
  /** Records after this one in the page order (newest start first, then highest id): the last record of the previous page. */
  cursor?: PageCursor;
}

/** A position in a gateway's pages: the (start, id) of the last record returned. */
export interface PageCursor {
  startMs: number;
  id: number;
}

export interface TranslationPage {
  /** Newest start first; the same start, highest id first. */
  records: TranslationRecord[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: PageCursor;
  /** Gaps of this gateway's log that overlap the asked time: an empty answer inside a gap proves nothing. */
  gaps: LogGap[];
}

/** Where the ingest pipeline hands every stored record (the exports, the port tally). */
export interface TranslationSink {
  /** A connection began (or was first seen). */
  opened(record: TranslationRecord): void;
  /** A connection ended; `record` carries its end and counters. */
  closed(record: TranslationRecord): void;
}

/** Who owned a translation: the cluster and mapping in force when it was logged. */
export interface Owner {
  cluster: string;
  mapping: string;
}

/** An end no current mapping explains (the mapping was deleted or changed while the connection was open). */
export interface NoOwner {
  cluster: null;
  mapping: null;
}

/**
 * An event the pipeline attributed to the mapping that translated it. A new event always has its owner (one no
 * mapping explains is not the log's to keep); a destroy may have none: the store closes the open record of that
 * connection, whose owner it already has, and drops (and counts) a destroy that has neither.
 */
export type AttributedEvent =
  | (ConntrackEvent & { kind: "new" } & Owner)
  | (ConntrackEvent & { kind: "destroy" } & (Owner | NoOwner));

/** What one commit stored. */
export interface CommitResult {
  opened: TranslationRecord[];
  closed: TranslationRecord[];
  /** Destroys that found no open record and became whole records (their NEW was lost or came before the log ran). */
  recovered: number;
  /** Destroys without an owner that found no open record either: nothing to close and no one to attribute, dropped. */
  unattributedDropped: number;
}

/** How far the pipeline has read its spool: stored in the same transaction as the records it produced. */
export interface SpoolPosition {
  /** The spool file's generation (its name), so a rotated file is never re-read. */
  file: string;
  offset: number;
}

/**
 * The translation log's own store (its own SQLite file, WAL). The ingest pipeline is its one writer; lookups
 * read it. A destroy event closes the open record of the same connection (conntrack id and tuple, same boot);
 * a destroy with no open record (its new event came before the log ran) becomes a whole record.
 */
export interface TranslationLogStore {
  /** Stores one batch and the spool position it reached, atomically; returns what it stored. */
  commit(events: readonly AttributedEvent[], position: SpoolPosition): CommitResult;
  /** The position of the last commit (null on a new store). */
  position(): SpoolPosition | null;
  /** Marks open records of an earlier boot as ended at `atMs`, reason "gateway-restarted"; returns how many. */
  closeRecordsOfEarlierBoots(currentBootId: string, atMs: number): number;
  /** Starts a gap (idempotent while one is open) or ends the open one. */
  openGap(reason: LogGap["reason"], fromMs: number): void;
  closeGap(toMs: number): void;
  query(query: TranslationQuery): TranslationPage;
  /**
   * Closes these open records (ids from openRecords()) at `atMs` with `reason`: for connections the kernel no longer
   * holds whose end event never came (the log was not recording when they ended). Ids no longer open (closed
   * meanwhile) are skipped. Returns the records as closed, for the sinks (the port tally, the exports).
   */
  closeOpenRecords(ids: readonly number[], atMs: number, reason: "log-interrupted"): TranslationRecord[];
  /**
   * Open records right now (this boot's after closeRecordsOfEarlierBoots), oldest id first: for the port tally after
   * a restart, and to compare with the kernel's conntrack table (protocol, pod, destination and egress address:port).
   */
  openRecords(): Iterable<TranslationRecord>;
  /** Deletes records ended before `olderThanMs`, then the oldest until the file is under `maxBytes`; returns how many. */
  prune(options: { olderThanMs: number; maxBytes: number; batch: number }): number;
  sizeBytes(): number;
  close(): void;
}
