import type { AttributedPolicyEvent } from "./policy-event.js";

export interface RecentDenialsLimits {
  /** Newest events kept per cluster (and for the unattributed ones). */
  perCluster: number;
  /** Newest events kept in all. */
  total: number;
}

export const DEFAULT_RECENT_DENIALS_LIMITS: RecentDenialsLimits = { perCluster: 200, total: 1_000 };

interface Entry {
  sequence: number;
  event: AttributedPolicyEvent;
}

/**
 * The newest policy log events in memory, for the API: a tenant sees its own cluster's, an administrator all of
 * them. Each cluster has its own bucket, and unattributed events (cluster null) one more. When the total is
 * over its limit, the event that goes is the oldest of the largest bucket, the arriving event's own bucket on a
 * tie: a noisy cluster (or a flood of unattributed sources) only ever pushes out its own events once it holds
 * as many as anyone, so every cluster keeps at least min(perCluster, total / clusters) of its newest.
 */
export class RecentDenials {
  private readonly buckets = new Map<string | null, Entry[]>();
  private size = 0;
  private sequence = 0;

  constructor(private readonly limits: RecentDenialsLimits = DEFAULT_RECENT_DENIALS_LIMITS) {
    if (!(limits.perCluster >= 1 && limits.total >= 1)) throw new RangeError("recent denials: limits must be at least 1");
  }

  add(event: AttributedPolicyEvent): void {
    const own = event.cluster;
    let bucket = this.buckets.get(own);
    if (!bucket) {
      bucket = [];
      this.buckets.set(own, bucket);
    }
    bucket.push({ sequence: ++this.sequence, event });
    this.size++;
    if (bucket.length > this.limits.perCluster) this.evictOldest(own);
    while (this.size > this.limits.total) this.evictOldest(this.largestBucket(own));
  }

  /** A cluster's events, newest first. */
  ofCluster(cluster: string, limit = this.limits.perCluster): AttributedPolicyEvent[] {
    return newestFirst(this.buckets.get(cluster) ?? [], limit);
  }

  /** Events no mapping explained, newest first: an administrator's only. */
  unattributed(limit = this.limits.perCluster): AttributedPolicyEvent[] {
    return newestFirst(this.buckets.get(null) ?? [], limit);
  }

  /** Every cluster's events and the unattributed ones, newest first: an administrator's view. */
  all(limit = this.limits.total): AttributedPolicyEvent[] {
    return newestFirst([...this.buckets.values()].flat(), limit);
  }

  get count(): number {
    return this.size;
  }

  private largestBucket(preferred: string | null): string | null {
    let chosen = preferred;
    let most = this.buckets.get(preferred)?.length ?? 0;
    for (const [cluster, bucket] of this.buckets) {
      if (bucket.length > most) {
        chosen = cluster;
        most = bucket.length;
      }
    }
    return chosen;
  }

  private evictOldest(cluster: string | null): void {
    const bucket = this.buckets.get(cluster);
    if (!bucket || bucket.length === 0) return;
    bucket.shift();
    this.size--;
    if (bucket.length === 0) this.buckets.delete(cluster);
  }
}

function newestFirst(entries: Entry[], limit: number): AttributedPolicyEvent[] {
  return [...entries].sort((a, b) => b.sequence - a.sequence).slice(0, Math.max(0, limit)).map((entry) => entry.event);
}
