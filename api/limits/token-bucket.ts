/**
 * Token buckets keyed by an id (a cluster token): each holds up to `burst` requests and refills at
 * `requestsPerSecond`, so a client may burst after being idle but not sustain more than the rate. The
 * clock is injected: tests move time by hand, and nothing here touches a timer.
 */
export interface TokenBucketOptions {
  requestsPerSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly options: TokenBucketOptions,
    private readonly clock: () => number,
    /** Memory bound: beyond it, idle (full) buckets are forgotten, which costs their owners nothing. */
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one request from `key`'s bucket: 0 when allowed, else the milliseconds until one is available. */
  take(key: string): number {
    const now = this.clock();
    const bucket = this.refilled(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / this.options.requestsPerSecond) * 1000);
  }

  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string, now: number): Bucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.evict(now);
      bucket = { tokens: this.options.burst, at: now };
      this.buckets.set(key, bucket);
      return bucket;
    }
    // A clock that steps back must not drain a bucket.
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + (elapsed / 1000) * this.options.requestsPerSecond);
    bucket.at = now;
    return bucket;
  }

  private evict(now: number): void {
    for (const [key, bucket] of this.buckets) {
      const tokens = bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.options.requestsPerSecond;
      if (tokens >= this.options.burst) this.buckets.delete(key);
    }
    // Every bucket busy: the oldest goes, and its owner starts again with a full bucket.
    if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
  }
}
