import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, statfsSync } from "node:fs";
import { basename, dirname } from "node:path";

/** What a read of a spool file returned: whole lines only, so a line ulogd is still writing is never cut. */
export interface SpoolChunk {
  /** Complete lines (each ending in "\n"), or "" when nothing complete lies after the offset. */
  text: string;
  /** The offset just after the last byte returned: where the next read starts. */
  nextOffset: number;
  /** The read filled its buffer: more may wait, read again at once instead of waiting for the next poll. */
  full: boolean;
}

export interface SpoolIdentity {
  size: number;
  /** Tells a renamed-and-recreated file from the one read before. */
  inode: number;
}

/**
 * The files of ulogd's spool, as the translation log's ingest reads and rotates them. Reads return bytes up to the
 * last complete line; a line longer than the whole buffer is returned cut (its parts then fail to parse and are
 * counted as malformed) so that one bad line can never stop the reader.
 */
export interface SpoolFiles {
  read(path: string, offset: number, maxBytes: number): SpoolChunk;
  /** Size and identity, or undefined when there is no file. */
  stat(path: string): SpoolIdentity | undefined;
  /** Renames within one file system (a spool generation); the target must not exist. */
  rename(from: string, to: string): void;
  /** Names (not paths) of the files beside `path` whose names begin with its name and a dot: its generations. */
  generations(path: string): string[];
  /** Removes a file; none there is fine. */
  remove(path: string): void;
  /** Bytes available to an unprivileged writer on the file system holding `path` (statfs bavail × bsize). */
  freeBytes(path: string): number;
  /** Creates the directory (and parents) and sets its mode exactly. */
  ensureDirectory(path: string, mode: number): void;
}

export class HostSpoolFiles implements SpoolFiles {
  read(path: string, offset: number, maxBytes: number): SpoolChunk {
    const buffer = Buffer.allocUnsafe(maxBytes);
    const fd = openSync(path, "r");
    let length = 0;
    try {
      // A short read is not the end of the file on every file system: fill the buffer or reach EOF.
      for (;;) {
        const n = readSync(fd, buffer, length, maxBytes - length, offset + length);
        if (n === 0) break;
        length += n;
        if (length === maxBytes) break;
      }
    } finally {
      closeSync(fd);
    }
    const full = length === maxBytes;
    const lastNewline = buffer.lastIndexOf(0x0a, length - 1);
    const end = lastNewline >= 0 ? lastNewline + 1 : full ? length : 0;
    return { text: buffer.toString("utf8", 0, end), nextOffset: offset + end, full };
  }

  stat(path: string): SpoolIdentity | undefined {
    const stats = statSync(path, { throwIfNoEntry: false });
    return stats ? { size: stats.size, inode: stats.ino } : undefined;
  }

  rename(from: string, to: string): void {
    renameSync(from, to);
  }

  generations(path: string): string[] {
    const prefix = `${basename(path)}.`;
    return readdirSync(dirname(path)).filter((name) => name.startsWith(prefix));
  }

  remove(path: string): void {
    rmSync(path, { force: true });
  }

  freeBytes(path: string): number {
    const stats = statfsSync(path);
    return stats.bavail * stats.bsize;
  }

  ensureDirectory(path: string, mode: number): void {
    mkdirSync(path, { recursive: true, mode });
    chmodSync(path, mode);
  }
}
