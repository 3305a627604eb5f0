import { mkdir, open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Logger } from "pino";

export interface RotatingFileOptions {
  path: string;
  /** A file is rotated before a line would take it past this size (a single longer line gets a file of its own). */
  maxBytes: number;
  /** Rotated files kept: FILE.1 (newest) … FILE.keep; older ones are deleted. */
  keep: number;
  /** Lines waiting for the disk, in characters; beyond it lines are dropped and counted. */
  queueLimit?: number;
  /** Mode of new files (default 0640: the shipper's group may read). */
  mode?: number;
}

export interface LineWriterStats {
  /** Lines handed to the disk (or the socket). */
  written: number;
  /** Lines given up on: the queue was full, or the write failed. */
  dropped: number;
  /** Lines accepted and not yet written or dropped (waiting, or being written). */
  queued: number;
  /** The last failure's code, until a write succeeds again. */
  error: string | null;
}

/** Where an export's lines go: never blocks, never throws; a line that cannot be kept is counted. */
export interface LineWriter {
  /** Queues one whole line (newline included); false when it was dropped. */
  write(line: string): boolean;
  stats(): LineWriterStats;
  /** Writes what is queued (giving up after `timeoutMs`, the rest counted as dropped), then closes. */
  close(timeoutMs?: number): Promise<void>;
}

const DEFAULT_QUEUE_LIMIT = 8 * 1024 * 1024;
/** Characters taken from the queue for one write: large enough to amortise the system call, small enough to rotate close to maxBytes. */
const BATCH_CHARS = 256 * 1024;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * An append-only file with size-based rotation (FILE → FILE.1 → … → FILE.keep), for exports that are best effort:
 * the caller only queues, one asynchronous writer drains the queue in batches, and when the disk is slow, full or
 * failing, lines beyond the bounded queue are dropped and counted rather than held in memory or awaited. A line is
 * never split across two files, and a failed write is cut back to the last whole line.
 */
export function openRotatingFile(options: RotatingFileOptions, log: Logger): LineWriter {
  return new RotatingFile(options, log);
}

class RotatingFile implements LineWriter {
  private queue: string[] = [];
  private head = 0;
  private queuedChars = 0;
  /** Lines taken from the queue for the write in progress. */
  private inFlight = 0;
  private readonly queueLimit: number;
  private handle: FileHandle | undefined;
  private size = 0;
  private written = 0;
  private dropped = 0;
  private error: string | null = null;
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closing = false;

  constructor(private readonly options: RotatingFileOptions, private readonly log: Logger) {
    this.queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  }

  write(line: string): boolean {
    if (this.closing || this.queuedChars + line.length > this.queueLimit) {
      this.dropped++;
      return false;
    }
    this.queue.push(line);
    this.queuedChars += line.length;
    if (!this.draining && !this.retryTimer) this.draining = this.drain();
    return true;
  }

  stats(): LineWriterStats {
    return { written: this.written, dropped: this.dropped, queued: this.queue.length - this.head + this.inFlight, error: this.error };
  }

  async close(timeoutMs = 2_000): Promise<void> {
    this.closing = true;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    if (this.draining) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.draining, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
      clearTimeout(timer);
    }
    // A disk that failed or is too slow keeps the rest: the export is best effort, the store is the record. A write
    // still in flight counts its own lines when it ends, and its drain closes the file.
    this.dropped += this.queue.length - this.head;
    this.queue = [];
    this.head = 0;
    this.queuedChars = 0;
    if (!this.draining) await this.closeHandle();
  }

  /** The one writer: runs until the queue is empty, or until a failure hands over to a retry timer. */
  private async drain(): Promise<void> {
    try {
      // A yield first, so that a burst of lines queued in the same tick leaves in one write.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.head < this.queue.length) {
        if (!this.handle) await this.openFile();
        const lines = this.takeBatch();
        if (lines.length === 0) await this.rotate();
        else await this.writeLines(lines);
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.draining = undefined;
      if (this.closing) await this.closeHandle();
    }
  }

  /**
   * Takes the lines that fit into the current file, up to one batch; none when the next line does not fit and
   * the file has something in it (it must be rotated first).
   */
  private takeBatch(): string[] {
    const lines: string[] = [];
    let bytes = this.size;
    let chars = 0;
    while (this.head < this.queue.length && chars < BATCH_CHARS) {
      const line = this.queue[this.head] as string;
      const lineBytes = Buffer.byteLength(line);
      if (bytes + lineBytes > this.options.maxBytes && bytes > 0) break;
      lines.push(line);
      bytes += lineBytes;
      chars += line.length;
      this.head++;
    }
    this.queuedChars -= chars;
    // Compact now and then, so that a long burst does not keep every written line alive.
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return lines;
  }

  private async writeLines(lines: string[]): Promise<void> {
    const handle = this.handle as FileHandle;
    const data = Buffer.from(lines.join(""));
    this.inFlight = lines.length;
    try {
      await handle.writeFile(data);
    } catch (error) {
      this.inFlight = 0;
      // A write cut short by a full disk would leave half a line: take the file back to its last whole line.
      await handle.truncate(this.size).catch(() => undefined);
      if (this.closing) {
        this.dropped += lines.length;
      } else {
        // The lines go back to the front of the queue for the retry.
        this.queue = lines.concat(this.queue.slice(this.head));
        this.head = 0;
        for (const line of lines) this.queuedChars += line.length;
      }
      throw error;
    }
    this.inFlight = 0;
    this.size += data.length;
    this.written += lines.length;
    if (this.error !== null) this.log.info({ path: this.options.path, dropped: this.dropped }, "export file writable again");
    this.error = null;
    this.failures = 0;
  }

  private async openFile(): Promise<void> {
    await mkdir(dirname(this.options.path), { recursive: true, mode: 0o750 });
    const handle = await open(this.options.path, "a", this.options.mode ?? 0o640);
    try {
      this.size = (await handle.stat()).size;
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.handle = handle;
  }

  /** FILE.keep-1 → FILE.keep (replacing the oldest) … FILE → FILE.1; then a new FILE. */
  private async rotate(): Promise<void> {
    await this.closeHandle();
    const { path, keep } = this.options;
    await this.removeBeyond(keep);
    for (let i = keep - 1; i >= 1; i--) await renameIfPresent(`${path}.${i}`, `${path}.${i + 1}`);
    await renameIfPresent(path, `${path}.1`);
    await this.openFile();
  }

  /** Files numbered above `keep` (left by a larger `keep` before) would otherwise never be deleted. */
  private async removeBeyond(keep: number): Promise<void> {
    const name = basename(this.options.path);
    for (const entry of await readdir(dirname(this.options.path))) {
      const match = entry.startsWith(`${name}.`) ? /^\d+$/.exec(entry.slice(name.length + 1)) : null;
      if (match && Number(match[0]) >= keep) await unlink(join(dirname(this.options.path), entry)).catch(ignoreMissing);
    }
  }

  private fail(error: unknown): void {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (this.error !== code) this.log.warn({ path: this.options.path, err: error }, "export file cannot be written; lines are queued, then dropped and counted, until it can");
    this.error = code;
    if (this.closing) return;
    void this.closeHandle();
    this.failures++;
    const delay = Math.min(RETRY_MIN_MS * 2 ** Math.min(this.failures - 1, 10), RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.draining && this.head < this.queue.length) this.draining = this.drain();
    }, delay);
    this.retryTimer.unref();
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }
}

async function renameIfPresent(from: string, to: string): Promise<void> {
  await rename(from, to).catch(ignoreMissing);
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== "ENOENT") throw error;
}
