import type { Logger } from "pino";
import { errorMessage } from "../errors.js";
import { parseAddress } from "../net/cidr.js";
import type { DnsLookup } from "../system/dns-resolver.js";
import type { ResolvedAddress } from "./coverage.js";

export interface NameResolutionOptions {
  /** Bounds on a record's TTL: a TTL of 0 or of a week would make the data plane churn or hold stale addresses. */
  minTtlSeconds: number;
  maxTtlSeconds: number;
}

export type { ResolvedAddress };

export interface NameStatus {
  name: string;
  /** pending: no lookup has come back yet. failing: the last lookup failed (addresses are then the last good ones). */
  state: "pending" | "resolved" | "failing";
  addresses: ResolvedAddress[];
  lastAnswerAt: string | null;
  lastError: string | null;
  consecutiveFailures: number;
  /** When the next lookup is due; null while one is in flight. */
  nextRefreshAt: string | null;
}

export type TimerHandle = unknown;

/** The clock and the timers, injected so that tests drive time. */
export interface CacheClock {
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** The real clock and timers. Unreferenced: a pending refresh never keeps the process from exiting. */
export const timersClock: CacheClock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => setTimeout(fn, ms).unref(),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Where the daemon counts lookups (prom-client lives in appliance/metrics.ts, not here). */
export interface NameResolutionMetrics {
  resolution(outcome: "answer" | "failed"): void;
}

export interface NameCacheDeps {
  lookup(name: string): Promise<DnsLookup>;
  clock: CacheClock;
  metrics?: NameResolutionMetrics;
  log?: Pick<Logger, "info" | "warn" | "error">;
}

/** Addresses one answer may add, and one name may hold (answers of a rotating zone add up until they expire). */
export const MAX_ADDRESSES_PER_ANSWER = 64;
export const MAX_ADDRESSES_PER_NAME = 256;

/** Retry after a failed lookup: 1 s, doubling, at most 30 s. */
export const RETRY_BASE_MS = 1_000;
export const RETRY_MAX_MS = 30_000;
/** setTimeout's limit; a longer delay fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry {
  readonly name: string;
  /** address → expiresAt; expired ones leave at their expiry timer. */
  readonly addresses: Map<string, number>;
  lastAnswerAt: number | null;
  lastError: string | null;
  failures: number;
  nextLookupAt: number | null;
  lookupTimer: TimerHandle | null;
  expiryTimer: TimerHandle | null;
}

/** Names compare lower case without the trailing dot. */
export function canonicalName(name: string): string {
  return (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
}

/**
 * The addresses of the DNS names that policies allow, each with an expiry from its record's TTL (clamped). Each name
 * is looked up again at half its effective TTL, so a name whose addresses move keeps working. An address leaves only
 * at its own expiry: not when an answer stops naming it (connections to it may still be starting from a pod that
 * resolved it earlier), and never because a lookup failed. Listeners hear of every change of what is allowed:
 * an address added, an expiry extended, an address expired, a name forgotten.
 */
export class NameCache {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly deps: NameCacheDeps, private readonly options: NameResolutionOptions) {
    if (!(options.minTtlSeconds >= 1 && options.maxTtlSeconds >= options.minTtlSeconds)) {
      throw new RangeError(`TTL bounds must satisfy 1 <= min <= max (min ${options.minTtlSeconds}, max ${options.maxTtlSeconds})`);
    }
  }

  /** New names are looked up at once; names no longer listed are forgotten with their addresses. */
  /**
   * What a previous run of the daemon held (its state file): a name it starts to follow begins with those of its
   * addresses that have not expired, so a restart while DNS is down allows no less than before it, and never longer
   * than the answers promised.
   */
  seed(previous: readonly { name: string; addresses: readonly ResolvedAddress[] }[]): void {
    for (const { name, addresses } of previous) this.seeds.set(canonicalName(name), addresses);
  }

  private readonly seeds = new Map<string, readonly ResolvedAddress[]>();

  setNames(names: readonly string[]): void {
    if (this.stopped) return;
    const wanted = new Set(names.map(canonicalName));
    let changed = false;
    for (const [name, entry] of this.entries) {
      if (wanted.has(name)) continue;
      this.clearTimers(entry);
      this.entries.delete(name);
      changed ||= this.unexpired(entry).length > 0;
    }
    for (const name of wanted) {
      if (this.entries.has(name)) continue;
      const entry: Entry = {
        name, addresses: new Map(), lastAnswerAt: null, lastError: null, failures: 0,
        nextLookupAt: null, lookupTimer: null, expiryTimer: null,
      };
      this.entries.set(name, entry);
      const now = this.deps.clock.now();
      for (const { address, expiresAt } of this.seeds.get(name) ?? []) {
        const canonical = canonicalAddress(address);
        if (canonical !== undefined && expiresAt > now && entry.addresses.size < MAX_ADDRESSES_PER_NAME) entry.addresses.set(canonical, expiresAt);
      }
      this.seeds.delete(name);
      if (entry.addresses.size > 0) {
        this.scheduleExpiry(entry);
        changed = true;
      }
      void this.resolve(entry);
    }
    if (changed) this.notify();
  }

  addressesOf(name: string): readonly ResolvedAddress[] {
    const entry = this.entries.get(canonicalName(name));
    return entry ? this.unexpired(entry) : [];
  }

  status(): NameStatus[] {
    return [...this.entries.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((entry) => ({
        name: entry.name,
        state: entry.failures > 0 ? "failing" : entry.lastAnswerAt === null ? "pending" : "resolved",
        addresses: this.unexpired(entry),
        lastAnswerAt: isoOrNull(entry.lastAnswerAt),
        lastError: entry.lastError,
        consecutiveFailures: entry.failures,
        nextRefreshAt: isoOrNull(entry.nextLookupAt),
      }));
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Cancels every timer; lookups still in flight are ignored when they come back. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) this.clearTimers(entry);
    this.entries.clear();
  }

  private async resolve(entry: Entry): Promise<void> {
    entry.lookupTimer = null;
    entry.nextLookupAt = null;
    // The TTL counts from when the server answered; the time the question left is never later than that.
    const askedAt = this.deps.clock.now();
    let result: DnsLookup;
    try {
      result = await this.deps.lookup(entry.name);
    } catch (error) {
      result = { status: "failed", error: errorMessage(error) };
    }
    // The name was forgotten (or the cache stopped) while the question was out.
    if (this.stopped || this.entries.get(entry.name) !== entry) return;
    this.deps.metrics?.resolution(result.status);
    if (result.status === "answer") this.answered(entry, result.addresses, askedAt, result.partialFailure);
    else this.failed(entry, result.error);
  }

  private answered(entry: Entry, answer: readonly { address: string; ttl: number }[], askedAt: number, partialFailure?: string): void {
    const now = this.deps.clock.now();
    if (partialFailure !== undefined) {
      // The answered family is refreshed below; the failed one's addresses are kept until they expire, as on a failure.
      if (entry.failures === 0) this.deps.log?.warn({ name: entry.name, error: partialFailure }, "DNS lookup for a policy name answered for one address family only; the other's last addresses stay until they expire");
      entry.failures += 1;
      entry.lastError = partialFailure;
    } else {
      if (entry.failures > 0) this.deps.log?.info({ name: entry.name, failures: entry.failures }, "DNS lookup for a policy name answers again");
      entry.lastError = null;
      entry.failures = 0;
    }
    entry.lastAnswerAt = now;
    const records = answer.flatMap(({ address, ttl }) => {
      const canonical = canonicalAddress(address);
      return canonical === undefined ? [] : [{ address: canonical, ttl: this.clampTtl(ttl) }];
    }).slice(0, MAX_ADDRESSES_PER_ANSWER);
    if (answer.length > MAX_ADDRESSES_PER_ANSWER) {
      this.deps.log?.warn({ name: entry.name, answered: answer.length, kept: MAX_ADDRESSES_PER_ANSWER }, "a policy name answered with more addresses than one answer may add; the rest are not allowed");
    }
    let changed = false;
    for (const { address, ttl } of records) {
      const expiresAt = askedAt + ttl * 1_000;
      const held = entry.addresses.get(address);
      // An expiry is only ever pushed out: an earlier answer already promised the address until then.
      if (held === undefined || held <= now || expiresAt > held) {
        entry.addresses.set(address, expiresAt);
        changed = true;
      }
    }
    // A zone that rotates its answers would have the name hold every address until each expires: the latest
    // answer's stay, then the longest-lived others, up to a bound (the kernel elements are the tenant's, but the
    // daemon compiles them for everyone).
    if (entry.addresses.size > MAX_ADDRESSES_PER_NAME) {
      const latest = new Set(records.map((r) => r.address));
      const kept = [...entry.addresses].sort(([a, x], [b, y]) => Number(latest.has(b)) - Number(latest.has(a)) || y - x).slice(0, MAX_ADDRESSES_PER_NAME);
      entry.addresses.clear();
      for (const [address, expiresAt] of kept) entry.addresses.set(address, expiresAt);
      changed = true;
    }
    // NXDOMAIN and NODATA carry no TTL here (node does not expose the SOA's): the floor stands in for it.
    const shortestTtl = Math.min(...records.map((record) => record.ttl), records.length > 0 ? Infinity : this.options.minTtlSeconds);
    this.scheduleLookup(entry, Math.max(0, askedAt + (shortestTtl * 1_000) / 2 - now));
    this.scheduleExpiry(entry);
    if (changed) this.notify();
  }

  private failed(entry: Entry, error: string): void {
    if (entry.failures === 0) this.deps.log?.warn({ name: entry.name, error }, "DNS lookup for a policy name failed; its last addresses stay until they expire");
    entry.failures += 1;
    entry.lastError = error;
    const backoff = Math.min(RETRY_BASE_MS * 2 ** (entry.failures - 1), RETRY_MAX_MS);
    // Retry before the first held address expires if there is time for it; never sooner than the base delay.
    const earliest = this.earliestExpiry(entry);
    const beforeExpiry = earliest === undefined ? backoff : earliest - this.deps.clock.now() - RETRY_BASE_MS;
    this.scheduleLookup(entry, Math.max(RETRY_BASE_MS, Math.min(backoff, beforeExpiry)));
  }

  private scheduleLookup(entry: Entry, delayMs: number): void {
    if (entry.lookupTimer !== null) this.deps.clock.clearTimer(entry.lookupTimer);
    entry.nextLookupAt = this.deps.clock.now() + delayMs;
    entry.lookupTimer = this.deps.clock.setTimer(Math.min(delayMs, MAX_TIMER_MS), () => void this.resolve(entry));
  }

  /** One timer per name, at its earliest expiry: the expired addresses leave and listeners hear of it then. */
  private scheduleExpiry(entry: Entry): void {
    if (entry.expiryTimer !== null) this.deps.clock.clearTimer(entry.expiryTimer);
    entry.expiryTimer = null;
    const earliest = this.earliestExpiry(entry);
    if (earliest === undefined) return;
    const delay = Math.min(Math.max(0, earliest - this.deps.clock.now()), MAX_TIMER_MS);
    entry.expiryTimer = this.deps.clock.setTimer(delay, () => this.expire(entry));
  }

  private expire(entry: Entry): void {
    entry.expiryTimer = null;
    if (this.stopped || this.entries.get(entry.name) !== entry) return;
    const now = this.deps.clock.now();
    let dropped = false;
    for (const [address, expiresAt] of entry.addresses) {
      if (expiresAt > now) continue;
      entry.addresses.delete(address);
      dropped = true;
    }
    // A timer that fired a little early finds nothing expired and simply waits again.
    this.scheduleExpiry(entry);
    if (dropped) this.notify();
  }

  private earliestExpiry(entry: Entry): number | undefined {
    let earliest: number | undefined;
    for (const expiresAt of entry.addresses.values()) if (earliest === undefined || expiresAt < earliest) earliest = expiresAt;
    return earliest;
  }

  private unexpired(entry: Entry): ResolvedAddress[] {
    const now = this.deps.clock.now();
    return [...entry.addresses]
      .filter(([, expiresAt]) => expiresAt > now)
      .map(([address, expiresAt]) => ({ address, expiresAt }))
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  private clampTtl(ttl: number): number {
    return Math.min(Math.max(ttl, this.options.minTtlSeconds), this.options.maxTtlSeconds);
  }

  private clearTimers(entry: Entry): void {
    if (entry.lookupTimer !== null) this.deps.clock.clearTimer(entry.lookupTimer);
    if (entry.expiryTimer !== null) this.deps.clock.clearTimer(entry.expiryTimer);
    entry.lookupTimer = null;
    entry.expiryTimer = null;
    entry.nextLookupAt = null;
  }

  /** A listener that throws must not stop the others, nor the timers that called it. */
  private notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.deps.log?.error({ err: error }, "a listener of the DNS name cache failed");
      }
    }
  }
}

/** An answer's address in the form the data plane compares; an IPv4-mapped AAAA (no real IPv6 host) is left out. */
function canonicalAddress(address: string): string | undefined {
  try {
    return parseAddress(address, "answer").address;
  } catch {
    return undefined;
  }
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
