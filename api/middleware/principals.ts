import { timingSafeEqual } from "node:crypto";
import { activeClusterToken, hashToken, isClusterTokenShaped } from "../../appliance/service/tokens.js";
import type { Store } from "../../appliance/store/store.js";
import type { AdminToken, Principal } from "../context.js";

/** A bound the cache never reaches in practice (only the admin issues tokens); reached, it starts over. */
const MAX_CACHED_TOKENS = 4_096;

/**
 * Resolves a bearer token to its principal with one SHA-256 of the token: that hash is compared with every
 * admin token's (hashed once, when first needed) and then looked up among the cluster tokens.
 *
 * A cluster token found in the store is remembered by its hash, so the next request with it costs a map lookup
 * instead of a SQLite query. Everything remembered is forgotten on every revision the store commits: the
 * store's one write path announces each (a revocation, a cluster deleted with its tokens, a replicated change
 * or snapshot alike), synchronously after the commit, so a revoked token is refused on the very next request.
 * An unknown token is never remembered, so a flood of guesses cannot fill the cache.
 */
export class Principals {
  private readonly adminHashes = new WeakMap<AdminToken, { token: string; hash: Buffer }>();
  private readonly clusterTokens = new Map<string, { id: string; cluster: string }>();
  private watched: Store | undefined;

  resolve(admins: readonly AdminToken[], store: Store, token: string): Principal | undefined {
    const hash = hashToken(token);
    // Every admin token is compared, matching or not, so the time taken says nothing about which one matched.
    let admin: string | undefined;
    for (const candidate of admins) if (timingSafeEqual(hash, this.adminHash(candidate))) admin = candidate.name;
    if (admin !== undefined) return { kind: "admin", name: admin };
    if (!isClusterTokenShaped(token)) return undefined;
    const found = this.clusterToken(store, hash);
    return found && { kind: "cluster", cluster: found.cluster, tokenId: found.id };
  }

  private clusterToken(store: Store, hash: Buffer): { id: string; cluster: string } | undefined {
    this.watch(store);
    const key = hash.toString("base64");
    const known = this.clusterTokens.get(key);
    if (known) return known;
    const found = activeClusterToken(store.db, hash);
    if (!found) return undefined;
    if (this.clusterTokens.size >= MAX_CACHED_TOKENS) this.clusterTokens.clear();
    this.clusterTokens.set(key, found);
    return found;
  }

  /** Subscribed on first use: the API is also built without a store (the OpenAPI document). */
  private watch(store: Store): void {
    if (this.watched === store) return;
    this.clusterTokens.clear();
    store.on("committed", () => this.clusterTokens.clear());
    this.watched = store;
  }

  /** Admin tokens are configuration (a test may swap them): each is hashed once per value. */
  private adminHash(admin: AdminToken): Buffer {
    const known = this.adminHashes.get(admin);
    if (known?.token === admin.token) return known.hash;
    const hash = hashToken(admin.token);
    this.adminHashes.set(admin, { token: admin.token, hash });
    return hash;
  }
}
