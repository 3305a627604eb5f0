import type { Logger } from "pino";
import type { LogGap, TranslationLogStore } from "../translation-model.js";

type Reason = LogGap["reason"];

/**
 * The log's gaps, from several causes at once: ulogd not running, the disk full, the store failing. The store keeps
 * one open gap at a time, so the gap opens with the first cause (its reason) and closes when the last one ends.
 * A store that refuses the change (it may be the cause) is asked again on the next `retry()`: a gap is never
 * forgotten because the store was down when it began.
 */
export class GapKeeper {
  private readonly causes = new Set<Reason>();
  /** What the store should hold and does not yet: a gap to open (from) or to close (to). */
  private readonly pending: ({ open: true; reason: Reason; atMs: number } | { open: false; atMs: number })[] = [];

  constructor(private readonly store: Pick<TranslationLogStore, "openGap" | "closeGap">, private readonly log: Logger) {}

  raise(reason: Reason, atMs: number): void {
    if (this.causes.has(reason)) return;
    this.causes.add(reason);
    if (this.causes.size > 1) return;
    // A close the store has not taken yet is superseded: the gap it holds simply stays open.
    if (this.pending.at(-1)?.open === false) this.pending.pop();
    else this.pending.push({ open: true, reason, atMs });
    this.retry();
  }

  clear(reason: Reason, atMs: number): void {
    if (!this.causes.delete(reason) || this.causes.size > 0) return;
    this.pending.push({ open: false, atMs });
    this.retry();
  }

  /** Whether this cause holds the log's gap open now. */
  has(reason: Reason): boolean {
    return this.causes.has(reason);
  }

  retry(): void {
    for (let change = this.pending[0]; change; change = this.pending[0]) {
      try {
        if (change.open) this.store.openGap(change.reason, change.atMs);
        else this.store.closeGap(change.atMs);
      } catch (error) {
        this.log.warn({ err: error, gap: change }, "the translation log's store did not take a gap change; retrying");
        return;
      }
      this.pending.shift();
    }
  }
}
