import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import { AppError } from "../errors.js";
import type { TokenInfo } from "../model.js";
import * as reads from "../store/reads.js";
import * as rows from "../store/rows.js";
import type { Db } from "../store/database.js";
import type { WriteContext } from "../store/store.js";
import { requireCluster } from "./clusters.js";

/**
 * Tokens are 256 random bits, so a plain SHA-256 is enough to store them: there is nothing to brute-force
 * that a slow hash would protect. The prefix makes a leaked token recognisable to secret scanners.
 */
const TOKEN_PREFIX = "egw_";

export function hashToken(token: string): Buffer {
  return hash("sha256", token, "buffer");
}

/** Compares two secrets in time independent of where they differ (both are hashed to equal length first). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(hashToken(a), hashToken(b));
}

export function issueToken(tx: WriteContext, cluster: string, description: string): TokenInfo & { token: string } {
  requireCluster(tx.db, cluster);
  const id = randomBytes(6).toString("hex");
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  rows.insertToken(tx.db, { id, cluster, description, hash: hashToken(token) }, tx.now);
  const info = reads.getToken(tx.db, cluster, id) as TokenInfo;
  tx.audit({ action: "create", resource: `clusters/${cluster}/tokens/${id}`, after: info });
  return { ...info, token };
}

export function revokeToken(tx: WriteContext, cluster: string, id: string): TokenInfo {
  requireCluster(tx.db, cluster);
  const before = reads.getToken(tx.db, cluster, id);
  if (!before) throw new AppError("not-found", `cluster ${cluster} has no token ${id}`);
  if (before.revokedAt !== null) return before;
  rows.revokeToken(tx.db, cluster, id, tx.now);
  const after = reads.getToken(tx.db, cluster, id) as TokenInfo;
  tx.audit({ action: "revoke", resource: `clusters/${cluster}/tokens/${id}`, before, after });
  return after;
}

export function authenticateClusterToken(db: Db, token: string): { id: string; cluster: string } | undefined {
  return isClusterTokenShaped(token) ? activeClusterToken(db, hashToken(token)) : undefined;
}

/** Only tokens we issued can be cluster tokens: anything else is not looked up at all. */
export function isClusterTokenShaped(token: string): boolean {
  return token.startsWith(TOKEN_PREFIX);
}

/** The active (not revoked) cluster token whose SHA-256 is `tokenHash`, for a caller that has hashed the token already. */
export function activeClusterToken(db: Db, tokenHash: Buffer): { id: string; cluster: string } | undefined {
  const row = reads.findActiveTokenByHash(db, tokenHash);
  if (!row || !timingSafeEqual(row.hash, tokenHash)) return undefined;
  return { id: row.id, cluster: row.cluster };
}
