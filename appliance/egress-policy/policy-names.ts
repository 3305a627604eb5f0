import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { errorMessage } from "../errors.js";
import { NameCache, timersClock, type NameStatus, type ResolvedAddress } from "../policy/name-cache.js";
import { DnsResolver } from "../system/dns-resolver.js";
import type { SystemFiles } from "../system/files.js";

/** Where the addresses are kept across restarts, and how. */
export interface PolicyNamesState {
  files: Pick<SystemFiles, "readText" | "writeFile">;
  path: string;
}

/** How long a change waits before it is written: one write for a burst of answers. */
const STATE_WRITE_DELAY_MS = 1_000;

/**
 * The DNS names of the stored policies, resolved by this gateway. Each gateway of a pair resolves them itself (the
 * policies replicate; their answers do not): a backup holds the same addresses before it takes over, so a failover
 * never starts from an empty allowance. `version` moves with every change of the addresses, and `onChange` asks
 * for a data-plane pass.
 */
export class PolicyNames {
  private readonly resolver: DnsResolver;
  private readonly cache: NameCache;
  private changes = 0;

  private writeTimer: NodeJS.Timeout | undefined;

  constructor(config: Config["policy"]["dns"], private readonly state: PolicyNamesState, private readonly log: Logger, onResolution: (outcome: "answer" | "failed") => void) {
    this.resolver = new DnsResolver({ servers: config.servers, timeoutMs: config.timeoutMs, tries: 2 });
    this.cache = new NameCache(
      { lookup: (name) => this.resolver.lookup(name), clock: timersClock, metrics: { resolution: onResolution }, log },
      { minTtlSeconds: config.minTtlSeconds, maxTtlSeconds: config.maxTtlSeconds },
    );
    // A restart (an upgrade, a crash) starts from what the last run held, not from nothing: with DNS down at that
    // moment, the names would otherwise allow nothing until it answers again.
    this.cache.seed(this.readState());
    this.cache.onChange(() => {
      this.changes++;
      this.listener?.();
      this.writeTimer ??= setTimeout(() => this.writeState(), STATE_WRITE_DELAY_MS).unref();
    });
  }

  private readState(): { name: string; addresses: ResolvedAddress[] }[] {
    try {
      const text = this.state.files.readText(this.state.path);
      if (text === undefined) return [];
      const parsed = JSON.parse(text) as { names?: { name?: unknown; addresses?: { address?: unknown; expiresAt?: unknown }[] }[] };
      return (parsed.names ?? []).flatMap((n) => (typeof n.name !== "string" || !Array.isArray(n.addresses) ? [] : [{
        name: n.name,
        addresses: n.addresses.flatMap((a) => (typeof a.address === "string" && typeof a.expiresAt === "number" ? [{ address: a.address, expiresAt: a.expiresAt }] : [])),
      }]));
    } catch (error) {
      this.log.warn({ err: errorMessage(error), path: this.state.path }, "cannot read the policy names' last addresses; starting without them");
      return [];
    }
  }

  private writeState(): void {
    this.writeTimer = undefined;
    try {
      const names = this.cache.status().map((n) => ({ name: n.name, addresses: n.addresses }));
      this.state.files.writeFile(this.state.path, `${JSON.stringify({ names })}\n`, 0o600);
    } catch (error) {
      this.log.warn({ err: errorMessage(error), path: this.state.path }, "cannot write the policy names' addresses");
    }
  }

  private listener: (() => void) | undefined;

  onChange(listener: () => void): void {
    this.listener = listener;
  }

  /** The names to resolve now (those of every stored policy); others are forgotten. */
  follow(names: readonly string[]): void {
    this.cache.setNames(names);
  }

  version(): number {
    return this.changes;
  }

  addressesOf(name: string): readonly ResolvedAddress[] {
    return this.cache.addressesOf(name);
  }

  status(): NameStatus[] {
    return this.cache.status();
  }

  stop(): void {
    if (this.writeTimer !== undefined) {
      clearTimeout(this.writeTimer);
      this.writeState();
    }
    this.cache.stop();
    this.resolver.cancel();
  }
}
