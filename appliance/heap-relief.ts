import { getHeapStatistics } from "node:v8";

/** A full collection, as `--expose-gc` provides it; absent without that flag. */
export type FullCollection = () => void;

export interface HeapReliefOptions {
  /** Default: `globalThis.gc` (node --expose-gc, as the systemd unit starts the daemon); without it, nothing is done. */
  collect?: FullCollection | undefined;
  /** The heap V8 holds now (committed bytes). */
  heapBytes?: () => number;
  /** Growth since the last collection that makes one worth its pause. */
  thresholdBytes?: number;
}

/** ≈100k mappings' worth of garbage: a small write never pays for a collection. */
const DEFAULT_THRESHOLD_BYTES = 48 * 1024 * 1024;

/**
 * Returns the memory of a burst to the system. V8 keeps the pages a burst of allocation grew its heap into,
 * and an idle daemon gives it no reason to collect: after a 100k-mapping PUT (its body, validation, the nft
 * batch and its readback) the heap held ≈100 MB of garbage 20 s later, RSS unchanged. After each data-plane
 * pass, a heap that has grown by more than the threshold since the last collection is collected in full
 * (≈0.1 s at 100k mappings; the daemon asks just after the pass's waiters are answered, so that
 * their answers are garbage too).
 */
export class HeapRelief {
  private readonly collect: FullCollection | undefined;
  private readonly heapBytes: () => number;
  private readonly thresholdBytes: number;
  private baseline: number;

  constructor(options: HeapReliefOptions = {}) {
    this.collect = "collect" in options ? options.collect : (globalThis as { gc?: FullCollection }).gc;
    this.heapBytes = options.heapBytes ?? (() => getHeapStatistics().total_heap_size);
    this.thresholdBytes = options.thresholdBytes ?? DEFAULT_THRESHOLD_BYTES;
    this.baseline = this.heapBytes();
  }

  /** Collects when the heap has grown past the threshold; says whether it did. */
  afterBurst(): boolean {
    if (!this.collect || this.heapBytes() - this.baseline < this.thresholdBytes) return false;
    this.collect();
    this.baseline = this.heapBytes();
    return true;
  }
}
