import type { MiddlewareHandler } from "hono";
import type { ApiEnv } from "../context.js";
import { rateLimited } from "../middleware/auth.js";
import { DNS_LABEL_PATTERN } from "../schemas/common.js";

/**
 * One whole-set write (PUT of a cluster's mappings, routes or a policy) in flight per cluster. A set of 100,000
 * items takes seconds to read, check and store; a client that fires the next one before the last is done
 * would queue unbounded work, with every copy of the body held in memory. Other clusters are independent.
 */
export class ClusterWriteLocks {
  private readonly held = new Set<string>();

  /** The release function, or undefined when the cluster's lock is taken. Releasing twice is harmless. */
  tryAcquire(cluster: string): (() => void) | undefined {
    if (this.held.has(cluster)) return undefined;
    this.held.add(cluster);
    let released = false;
    return () => {
      if (!released) this.held.delete(cluster);
      released = true;
    };
  }

  isHeld(cluster: string): boolean {
    return this.held.has(cluster);
  }
}

/**
 * Holds the cluster's lock from the start of a PUT (before its body is read) until its write has
 * committed (performWrite releases it) or the request ends (a refused or forwarded one). It runs after
 * authentication and only for a principal that may act on the cluster: no one can hold another
 * cluster's lock.
 */
export function oneBulkWritePerCluster(locks: ClusterWriteLocks): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const cluster = c.req.param("name") ?? "";
    const principal = c.get("principal");
    const mayAct = principal.kind === "admin" || principal.cluster === cluster;
    if (c.req.method !== "PUT" || !mayAct || !DNS_LABEL_PATTERN.test(cluster)) return next();
    const release = locks.tryAcquire(cluster);
    if (!release) {
      throw rateLimited(`another PUT of cluster ${cluster}'s mappings, routes or policies is still in progress`, 1000);
    }
    c.set("bulkWriteDone", release);
    try {
      await next();
    } finally {
      release();
    }
  };
}
