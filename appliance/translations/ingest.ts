import { basename, dirname, join } from "node:path";
import type { Logger } from "pino";
import type { SpoolFiles } from "../system/spool.js";
import type { AttributedEvent, SpoolPosition, TranslationLogStore, TranslationSink } from "../translation-model.js";
import type { Attribution } from "./attribution.js";
import type { GapKeeper } from "./gaps.js";
import { parseUlogdLine } from "./ulogd-event.js";

export interface IngestLimits {
  /** Events per store transaction (and per position step). */
  maxBatchEvents: number;
  /** Bytes read from the spool at once. */
  chunkBytes: number;
  /** A fully read spool larger than this is rotated. */
  rotateAtBytes: number;
  /** Below this much free space in the spool's file system the log stops (see onDiskFull). */
  minFreeBytes: number;
}

export interface TranslationIngestOptions {
  store: TranslationLogStore;
  spool: SpoolFiles;
  /** The file ulogd writes (its JSON plugin's `file`); its generations lie beside it. */
  spoolPath: string;
  /** The mappings in force now, as an Attribution (rebuilt by the caller when they change). */
  attribution: () => Attribution;
  sinks: readonly TranslationSink[];
  gaps: GapKeeper;
  log: Logger;
  clock: () => number;
  /** Signals ulogd (SIGHUP: reopen the spool); false when it is not running. */
  signalUlogd: (signal: NodeJS.Signals) => boolean;
  /** The daemon stops ulogd when the disk is full (true) and starts it again when space returns (false). */
  onDiskFull: (full: boolean) => void;
  limits: IngestLimits;
}

export interface IngestStatus {
  state: "running" | "disk-full" | "stopped" | "store-error";
  /** Now minus the time of the newest event read, while the spool holds unread bytes; 0 when caught up. */
  lagMs: number;
  spoolBytesBehind: number;
  eventsIngested: number;
  /** Translations no mapping explains (e.g. traffic masqueraded by unmappedTraffic: masquerade). */
  eventsUnattributed: number;
  eventsMalformed: number;
  /** Destroys that found no open record: their NEW was lost or came before the log ran. */
  recoveredNewEvents: number;
  lastEventMs: number | null;
}

const IDLE_POLL_MS = 75;
const DISK_CHECK_MS = 1_000;
const STORE_RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

/** A failure of the store, told apart from a failure to read the spool (which is retried quietly). */
class StoreFailure extends Error {}

/**
 * Reads ulogd's spool into the translation log's store: parse, attribute, commit in batches with the position they
 * reached (a restart resumes exactly there), then hand the stored records to the sinks.
 *
 * Rotation, crash-safe at every step because the position names the file generation:
 *   1. the active file is fully read and larger than rotateAtBytes: commit the position under the generation's
 *      name (`spool.json.<n>`), then rename the file to it and SIGHUP ulogd (its JSON output reopens its file);
 *   2. read the generation until ulogd's new file exists and the generation has been read to its end after that
 *      (ulogd closes the old file before it creates the new one, so nothing more can arrive in it);
 *   3. commit the position (active file, 0), then delete the generation.
 * After a crash: a position on a generation that does not exist means step 1 stopped before the rename (do it
 * now); a generation left beside a position on the active file was read whole (delete it).
 */
export class TranslationIngest {
  private position: SpoolPosition | undefined;
  private stopped = true;
  /** stop() was called (status says "stopped"); before start() a test drives pumpOnce() itself. */
  private halted = false;
  private storeError = false;
  private storeFailures = 0;
  private retryAtMs = 0;
  private diskFull = false;
  private diskCheckedMs = Number.NEGATIVE_INFINITY;
  private hupPending = false;
  private leftoversChecked = false;
  private timer: NodeJS.Timeout | undefined;
  private behind = 0;
  private readonly counts = { eventsIngested: 0, eventsUnattributed: 0, eventsMalformed: 0, recoveredNewEvents: 0 };
  private lastEventMs: number | null = null;
  private malformedLogged = 0;

  constructor(private readonly options: TranslationIngestOptions) {}

  private get activeName(): string {
    return basename(this.options.spoolPath);
  }

  private pathOf(name: string): string {
    return join(dirname(this.options.spoolPath), name);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.halted = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.halted = true;
    clearTimeout(this.timer);
  }

  status(): IngestStatus {
    const state = this.halted ? "stopped" : this.storeError ? "store-error" : this.diskFull ? "disk-full" : "running";
    const lagMs = this.behind > 0 && this.lastEventMs !== null ? Math.max(0, this.options.clock() - this.lastEventMs) : 0;
    return { state, lagMs, spoolBytesBehind: this.behind, ...this.counts, lastEventMs: this.lastEventMs };
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const { more } = this.pumpOnce();
      const now = this.options.clock();
      this.schedule(this.storeError ? Math.max(0, this.retryAtMs - now) : more ? 0 : IDLE_POLL_MS);
    }, delayMs);
  }

  /**
   * One step: read and commit one chunk, or one step of a rotation. `more` says whether to go on at once (it made
   * progress) or wait for the next poll (nothing new). Never throws: store failures become the "store-error"
   * state (and a gap), retried with backoff.
   */
  pumpOnce(): { more: boolean } {
    const now = this.options.clock();
    if (this.storeError && now < this.retryAtMs) return { more: false };
    this.options.gaps.retry();
    this.checkDisk(now);
    try {
      const more = this.step(now);
      if (this.storeError) this.recovered(now);
      return { more };
    } catch (error) {
      if (error instanceof StoreFailure) this.failed(now, error.cause);
      else this.options.log.warn({ err: error }, "reading the translation spool failed; retrying");
      return { more: false };
    }
  }

  private step(now: number): boolean {
    const position = this.currentPosition();
    if (position.file === this.activeName) {
      this.removeLeftovers();
      return this.readActive(position, now);
    }
    return this.drainGeneration(position, now);
  }

  private readActive(position: SpoolPosition, now: number): boolean {
    const { spool, spoolPath, limits } = this.options;
    const file = spool.stat(spoolPath);
    if (!file) {
      this.behind = 0;
      return false;
    }
    if (file.size < position.offset) {
      // Not something this pipeline does: someone truncated or replaced the spool. What was beyond is gone.
      this.options.log.error({ spool: spoolPath, size: file.size, offset: position.offset }, "the translation spool shrank under the reader; reading it again from the start");
      this.commit([], { file: position.file, offset: 0 });
      return true;
    }
    this.behind = file.size - position.offset;
    if (this.behind > 0) return this.readChunk(position, now);
    if (file.size < limits.rotateAtBytes) return false;
    const generation = this.generationName(now);
    this.commit([], { file: generation, offset: position.offset });
    spool.rename(spoolPath, this.pathOf(generation));
    this.hupPending = !this.options.signalUlogd("SIGHUP");
    this.options.log.info({ generation }, "translation spool rotated");
    return true;
  }

  private drainGeneration(position: SpoolPosition, now: number): boolean {
    const { spool, spoolPath } = this.options;
    const generationPath = this.pathOf(position.file);
    // Looked at before the generation's size: once the new file exists, ulogd has closed the old one.
    const successor = spool.stat(spoolPath);
    const generation = spool.stat(generationPath);
    if (!generation) {
      if (successor) {
        // The position was committed for this generation, the rename did not happen (a crash between): do it now.
        spool.rename(spoolPath, generationPath);
        this.hupPending = !this.options.signalUlogd("SIGHUP");
      } else {
        this.commit([], { file: this.activeName, offset: 0 });
      }
      return true;
    }
    this.behind = generation.size - position.offset + (successor?.size ?? 0);
    if (generation.size > position.offset) return this.readChunk(position, now);
    if (!successor) {
      // ulogd was not running when asked to reopen (it opens its file anew when it starts), or has not yet.
      if (this.hupPending) this.hupPending = !this.options.signalUlogd("SIGHUP");
      return false;
    }
    this.commit([], { file: this.activeName, offset: 0 });
    spool.remove(generationPath);
    return true;
  }

  /** Generations beside a position on the active file were read whole before it moved there (see the class). */
  private removeLeftovers(): void {
    if (this.leftoversChecked) return;
    for (const name of this.options.spool.generations(this.options.spoolPath)) this.options.spool.remove(this.pathOf(name));
    this.leftoversChecked = true;
  }

  private generationName(now: number): string {
    let n = now;
    while (this.options.spool.stat(this.pathOf(`${this.activeName}.${n}`))) n++;
    return `${this.activeName}.${n}`;
  }

  private readChunk(position: SpoolPosition, now: number): boolean {
    const { spool, limits } = this.options;
    const chunk = spool.read(this.pathOf(position.file), position.offset, limits.chunkBytes);
    if (chunk.text.length === 0) return false;
    const attribution = this.options.attribution();
    let batch: AttributedEvent[] = [];
    const pending = { eventsIngested: 0, eventsUnattributed: 0, eventsMalformed: 0, lastEventMs: this.lastEventMs };
    let offset = position.offset;
    const flush = () => {
      this.commit(batch, { file: position.file, offset }, pending);
      batch = [];
      pending.eventsIngested = pending.eventsUnattributed = pending.eventsMalformed = 0;
    };
    const text = chunk.text;
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      offset += Buffer.byteLength(line) + 1;
      if (line.length === 0) continue;
      const parsed = parseUlogdLine(line, now);
      if (parsed.kind === "malformed") {
        pending.eventsMalformed++;
        this.logMalformed(parsed.reason, line);
      } else if (parsed.kind === "event") {
        const event = parsed.event;
        pending.lastEventMs = Math.max(pending.lastEventMs ?? 0, event.endMs ?? event.startMs);
        const owner = attribution.attribute(event);
        if (owner) {
          batch.push({ ...event, kind: event.kind, cluster: owner.cluster, mapping: owner.mapping } as AttributedEvent);
          pending.eventsIngested++;
        } else if (event.kind === "destroy") {
          // Its mapping may have changed or gone since the connection began: the store still closes the record
          // it opened then (whose owner it has), and drops the end only if there is none (counted after the commit).
          batch.push({ ...event, kind: "destroy", cluster: null, mapping: null });
          pending.eventsIngested++;
        } else {
          pending.eventsUnattributed++;
        }
      }
      if (batch.length >= limits.maxBatchEvents) flush();
    }
    // A cut line (longer than a chunk) has no newline of its own: the offset stops at the chunk's end.
    offset = Math.min(offset, chunk.nextOffset);
    flush();
    // Something was read: look again at once (more may have come, or the file may be due for rotation).
    return true;
  }

  private commit(events: AttributedEvent[], position: SpoolPosition, pending?: { eventsIngested: number; eventsUnattributed: number; eventsMalformed: number; lastEventMs: number | null }): void {
    let result: ReturnType<TranslationLogStore["commit"]>;
    try {
      result = this.options.store.commit(events, position);
    } catch (error) {
      throw new StoreFailure("commit failed", { cause: error });
    }
    const previous = this.position;
    this.position = position;
    if (previous?.file === position.file) this.behind = Math.max(0, this.behind - (position.offset - previous.offset));
    if (pending) {
      this.counts.eventsIngested += pending.eventsIngested - result.unattributedDropped;
      this.counts.eventsUnattributed += pending.eventsUnattributed + result.unattributedDropped;
      this.counts.eventsMalformed += pending.eventsMalformed;
      this.lastEventMs = pending.lastEventMs;
    }
    this.counts.recoveredNewEvents += result.recovered;
    this.deliver(result);
  }

  private deliver(result: ReturnType<TranslationLogStore["commit"]>): void {
    // A sink (an export, the port tally) must not stop the log: the records are stored whatever it does. Each
    // record on its own, so that one a sink cannot take costs that record only, not the rest of the batch.
    let failures = 0;
    let firstError: unknown;
    for (const sink of this.options.sinks) {
      for (const [record, closed] of [...result.opened.map((r) => [r, false] as const), ...result.closed.map((r) => [r, true] as const)]) {
        try {
          if (closed) sink.closed(record);
          else sink.opened(record);
        } catch (error) {
          failures++;
          firstError ??= error;
        }
      }
    }
    if (failures > 0) this.options.log.error({ err: firstError, failures }, "a translation sink failed on some records");
  }

  private currentPosition(): SpoolPosition {
    if (!this.position) {
      let stored: SpoolPosition | null;
      try {
        stored = this.options.store.position();
      } catch (error) {
        throw new StoreFailure("reading the position failed", { cause: error });
      }
      this.position = stored ?? { file: this.activeName, offset: 0 };
    }
    return this.position;
  }

  private checkDisk(now: number): void {
    if (now - this.diskCheckedMs < DISK_CHECK_MS) return;
    this.diskCheckedMs = now;
    let free: number;
    try {
      free = this.options.spool.freeBytes(dirname(this.options.spoolPath));
    } catch (error) {
      this.options.log.warn({ err: error }, "cannot read the translation log's free space");
      return;
    }
    const full = free < this.options.limits.minFreeBytes;
    if (full === this.diskFull) return;
    this.diskFull = full;
    if (full) {
      this.options.log.error({ freeBytes: free, minFreeBytes: this.options.limits.minFreeBytes }, "translation log stopped: too little free disk space");
      this.options.gaps.raise("disk-full", now);
    } else {
      this.options.log.info({ freeBytes: free }, "translation log resumes: disk space is back");
      this.options.gaps.clear("disk-full", now);
    }
    this.options.onDiskFull(full);
  }

  private failed(now: number, cause: unknown): void {
    const delay = STORE_RETRY_MS[Math.min(this.storeFailures, STORE_RETRY_MS.length - 1)] as number;
    this.storeFailures++;
    this.retryAtMs = now + delay;
    // The position in memory may be ahead of the store's (a rolled-back commit): read it back on the next try.
    this.position = undefined;
    if (!this.storeError) {
      this.storeError = true;
      this.options.gaps.raise("store-error", now);
    }
    this.options.log.error({ err: cause, retryInMs: delay }, "the translation log's store failed; the spool keeps the events until it works again");
  }

  private recovered(now: number): void {
    this.storeError = false;
    this.storeFailures = 0;
    this.options.gaps.clear("store-error", now);
    this.options.log.info("the translation log's store works again");
  }

  private logMalformed(reason: string, line: string): void {
    // The first few say what is wrong; after that the count in status() and the metrics say how often.
    if (this.malformedLogged >= 10) return;
    this.malformedLogged++;
    this.options.log.warn({ reason, line: line.slice(0, 300) }, "translation spool line not understood");
  }
}
