import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import { errorMessage } from "../errors.js";

export interface StorageHealthOptions {
  /** Below this many free bytes for the database, the gateway reports itself not ready. */
  minFreeBytes: number;
  /** How long one free-space reading is reused (a readiness probe may come every second). */
  maxAgeMs?: number;
}

/** What statfs tells: bytes available to an unprivileged writer. */
export type FreeSpace = (directory: string) => number;

const realFreeSpace: FreeSpace = (directory) => {
  const stats = statfsSync(directory);
  return stats.bavail * stats.bsize;
};

/**
 * Whether the store can take writes: enough free space beside the database, and the last write did not fail
 * for lack of it (SQLITE_FULL) or an I/O error. A gateway that cannot store a write must not pass for ready:
 * its load balancer and its operator need to know before clients see 500s.
 */
export class StorageHealth {
  private reading: { at: number; free: number } | undefined;
  private writeFailure: string | undefined;

  constructor(
    private readonly databasePath: string,
    private readonly options: StorageHealthOptions,
    private readonly freeSpace: FreeSpace = realFreeSpace,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Told by the store: a write transaction failed (or, with undefined, one succeeded again). */
  recordWrite(error: unknown): void {
    if (error === undefined) {
      this.writeFailure = undefined;
      return;
    }
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN)/.test(code)) this.writeFailure = `${code}: ${errorMessage(error)}`;
  }

  /** Undefined when writes can be stored; otherwise why not. */
  problem(): string | undefined {
    if (this.writeFailure) return `the last write failed: ${this.writeFailure}`;
    if (this.databasePath === ":memory:") return undefined;
    const maxAge = this.options.maxAgeMs ?? 1_000;
    if (!this.reading || this.now() - this.reading.at >= maxAge) {
      try {
        this.reading = { at: this.now(), free: this.freeSpace(dirname(this.databasePath)) };
      } catch (error) {
        return `cannot read the free space beside ${this.databasePath}: ${errorMessage(error)}`;
      }
    }
    if (this.reading.free < this.options.minFreeBytes) {
      return `only ${Math.floor(this.reading.free / 1024 / 1024)} MiB free beside ${this.databasePath} (database.minFreeBytes is ${Math.floor(this.options.minFreeBytes / 1024 / 1024)} MiB)`;
    }
    return undefined;
  }
}
