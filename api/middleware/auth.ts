import type { MiddlewareHandler } from "hono";
import { AppError } from "../../appliance/errors.js";
import { authenticateClusterToken, secretsEqual } from "../../appliance/service/tokens.js";
import type { ApiEnv, Principal } from "../context.js";
import { acceptForwardedPrincipal } from "./forwarded-principal.js";

/** Resolves the bearer token to a principal; every /v1 request must carry one. */
export function authenticate(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const deps = c.get("deps");
    // --- HA: a write the peer forwarded carries the principal it authenticated, checked again here. ---
    const forwarded = c.env?.forwarded;
    if (forwarded) {
      c.set("principal", acceptForwardedPrincipal(deps, forwarded));
      return next();
    }
    // --- end HA ---
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new AppError("unauthorized", "send the token as 'Authorization: Bearer <token>'");
    const token = match[1] as string;
    let principal: Principal | undefined;
    if (secretsEqual(token, deps.adminToken)) principal = { kind: "admin" };
    else {
      const found = authenticateClusterToken(deps.store.db, token);
      if (found) principal = { kind: "cluster", cluster: found.cluster, tokenId: found.id };
    }
    if (!principal) throw new AppError("unauthorized", "the token is unknown or has been revoked");
    c.set("principal", principal);
    await next();
  };
}

export function requireAdmin(principal: Principal): void {
  if (principal.kind !== "admin") throw new AppError("forbidden", "this needs the admin token");
}

/** A cluster token reaches only its own cluster; the admin token reaches every cluster. */
export function requireClusterAccess(principal: Principal, cluster: string): void {
  if (principal.kind === "admin" || principal.cluster === cluster) return;
  throw new AppError("forbidden", `this token belongs to cluster ${principal.cluster} and may not act on cluster ${cluster}`);
}

export function actorOf(principal: Principal): string {
  return principal.kind === "admin" ? "admin" : `cluster:${principal.cluster}/token:${principal.tokenId}`;
}
