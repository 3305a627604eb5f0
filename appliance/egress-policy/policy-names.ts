import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { NameCache, timersClock, type NameStatus, type ResolvedAddress } from "../policy/name-cache.js";
import { DnsResolver } from "../system/dns-resolver.js";

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

  constructor(config: Config["policy"]["dns"], log: Logger, onResolution: (outcome: "answer" | "failed") => void) {
    this.resolver = new DnsResolver({ servers: config.servers, timeoutMs: config.timeoutMs, tries: 2 });
    this.cache = new NameCache(
      { lookup: (name) => this.resolver.lookup(name), clock: timersClock, metrics: { resolution: onResolution }, log },
      { minTtlSeconds: config.minTtlSeconds, maxTtlSeconds: config.maxTtlSeconds },
    );
    this.cache.onChange(() => {
      this.changes++;
      this.listener?.();
    });
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
    this.cache.stop();
    this.resolver.cancel();
  }
}
