import type { MiddlewareHandler } from "hono";
import { AppError } from "../../appliance/errors.js";
import type { ApiEnv, Principal } from "../context.js";
import { clientKey } from "../limits/client-address.js";
import type { FailureWindows } from "../limits/failure-window.js";
import type { TokenBuckets } from "../limits/token-bucket.js";
import { acceptForwardedPrincipal } from "./forwarded-principal.js";
import { Principals } from "./principals.js";

export interface AuthLimits {
  /** Failed authentications per client address. */
  failures: FailureWindows;
  /** Requests per cluster token. */
  buckets: TokenBuckets;
}

const REALM = 'Bearer realm="egw"';

/**
 * Resolves the bearer token to a principal; every /v1 request must carry one. It reads headers only, so
 * it runs before anything buffers or forwards a body. A client whose tokens keep failing is refused
 * before its token is looked at; a cluster token over its rate is refused after. Admin tokens are never
 * rate-limited: the network team must be able to act while tenants are busy.
 */
export function authenticate(limits: AuthLimits): MiddlewareHandler<ApiEnv> {
  const principals = new Principals();
  return async (c, next) => {
    const deps = c.get("deps");
    const limitRate = (principal: { cluster: string; tokenId: string }) => {
      const waitMs = limits.buckets.take(principal.tokenId);
      if (waitMs > 0) {
        throw rateLimited(`token ${principal.tokenId} of cluster ${principal.cluster} is over its rate limit `
          + `(${deps.rateLimit.requestsPerSecond} requests per second, bursts of ${deps.rateLimit.burst})`, waitMs);
      }
    };
    // --- HA: a write the peer forwarded carries the principal it authenticated, checked again here. ---
    const forwarded = c.env?.forwarded;
    if (forwarded) {
      const principal = acceptForwardedPrincipal(deps, forwarded);
      if (principal.kind === "cluster") limitRate(principal);
      c.set("principal", principal);
      return next();
    }
    // --- end HA ---
    const client = clientKey(c);
    // A client address may be shared (a node's hostNetwork pods, a NAT, the unix socket): a valid token is
    // always served, and only failures are slowed down, so one tenant's bad tokens never lock out another.
    const failed = (error: AppError): never => {
      const blockedMs = limits.failures.blockedFor(client);
      if (blockedMs > 0) throw rateLimited(`too many failed authentications from ${client === "unix" ? "the unix socket" : client}`, blockedMs);
      limits.failures.recordFailure(client);
      throw error;
    };
    const header = c.req.header("authorization");
    // Only a credential that was sent and failed counts as a failure: a request without one guesses nothing.
    if (header === undefined) throw unauthorized("send the token as 'Authorization: Bearer <token>'", false);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) failed(unauthorized("send the token as 'Authorization: Bearer <token>'", false));
    const principal = principals.resolve(deps.adminTokens, deps.store, (match as RegExpExecArray)[1] as string);
    if (!principal) return failed(unauthorized("the token is unknown or has been revoked", true));
    if (principal.kind === "cluster") {
      limitRate(principal);
    }
    c.set("principal", principal);
    await next();
  };
}

/** RFC 6750: a 401 names the scheme and realm, and says invalid_token when a token was sent but is no good. */
function unauthorized(detail: string, invalidToken: boolean): AppError {
  return new AppError("unauthorized", detail, { headers: { "WWW-Authenticate": invalidToken ? `${REALM}, error="invalid_token"` : REALM } });
}

export function rateLimited(detail: string, waitMs: number): AppError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new AppError("rate-limited", `${detail}; retry in ${seconds} s`,
    { headers: { "Retry-After": String(seconds) }, extra: { retryAfterSeconds: seconds } });
}

export function requireAdmin(principal: Principal): void {
  if (principal.kind !== "admin") throw new AppError("forbidden", "this needs an admin token");
}

/** A cluster token reaches only its own cluster; an admin token reaches every cluster. */
export function requireClusterAccess(principal: Principal, cluster: string): void {
  if (principal.kind === "admin" || principal.cluster === cluster) return;
  throw new AppError("forbidden", `this token belongs to cluster ${principal.cluster} and may not act on cluster ${cluster}`);
}

/**
 * The audit log's actor: `admin:<name>` for a named admin token, plain `admin` for api.adminTokenFile (as
 * every record was written before admin tokens had names), `cluster:<name>/token:<id>` for a cluster.
 */
export function actorOf(principal: Principal): string {
  if (principal.kind === "cluster") return `cluster:${principal.cluster}/token:${principal.tokenId}`;
  return principal.name === LEGACY_ADMIN ? "admin" : `admin:${principal.name}`;
}

/** The name of the token in api.adminTokenFile; reserved, so no named token can pass for it. */
export const LEGACY_ADMIN = "admin";
