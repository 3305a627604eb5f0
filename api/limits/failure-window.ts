/**
 * Counts failed authentications per client in fixed windows: after `max` failures a client is refused
 * until its window ends, without its token being checked. Guessing a 256-bit token is hopeless anyway;
 * this keeps a flood of bad tokens from costing lookups and log lines, and slows guessing of weak tokens.
 */
export interface FailureWindowOptions {
  max: number;
  windowMs: number;
}

interface Window {
  failures: number;
  endsAt: number;
}

export class FailureWindows {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly options: FailureWindowOptions,
    private readonly clock: () => number,
    /** Memory bound against clients that rotate addresses: expired windows go first, then the oldest. */
    private readonly maxKeys = 10_000,
  ) {}

  /** Milliseconds until `key` may try again; 0 when it may now. */
  blockedFor(key: string): number {
    const window = this.current(key);
    return window && window.failures >= this.options.max ? window.endsAt - this.clock() : 0;
  }

  recordFailure(key: string): void {
    const window = this.current(key);
    if (window) {
      window.failures += 1;
      return;
    }
    if (this.windows.size >= this.maxKeys) this.evict();
    this.windows.set(key, { failures: 1, endsAt: this.clock() + this.options.windowMs });
  }

  get size(): number {
    return this.windows.size;
  }

  private current(key: string): Window | undefined {
    const window = this.windows.get(key);
    if (window && window.endsAt <= this.clock()) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  private evict(): void {
    const now = this.clock();
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
    if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as string);
  }
}
