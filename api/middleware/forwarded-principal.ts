import { z } from "zod";
import { AppError } from "../../appliance/errors.js";
import * as reads from "../../appliance/store/reads.js";
import type { ApiDeps, ForwardedRequest, Principal } from "../context.js";

/**
 * A backup authenticates the client itself (it holds the replicated cluster tokens and its own admin
 * token) and forwards the write to the leader with the principal it found, never with the client's
 * token. The leader does not take the backup's word for it blindly: the principal must still be valid
 * here, in the leader's own store and configuration, when the write runs.
 */

const principalSchema = z.union([
  z.strictObject({ kind: z.literal("admin"), name: z.string().min(1).max(128) }),
  z.strictObject({ kind: z.literal("cluster"), cluster: z.string().min(1).max(63), tokenId: z.string().min(1).max(64) }),
]);

/** Parses the principal header the peer sent (peer app only); anything malformed is refused. */
export function parseForwardedPrincipal(header: string | undefined): Principal {
  let value: unknown;
  try {
    value = JSON.parse(header ?? "");
  } catch {
    throw new AppError("unauthorized", "the forwarded write carries no principal");
  }
  const parsed = principalSchema.safeParse(value);
  if (!parsed.success) throw new AppError("unauthorized", "the forwarded write carries a malformed principal");
  // The schema accepts exactly the shapes of Principal (an admin may carry a name).
  return parsed.data as Principal;
}

/** The principal of a forwarded write, once the leader has checked it against its own state. */
export function acceptForwardedPrincipal(deps: ApiDeps, forwarded: ForwardedRequest): Principal {
  const { principal, by } = forwarded;
  const problem = principal.kind === "cluster" ? clusterTokenProblem(deps, principal) : adminProblem(deps, principal);
  if (problem) {
    deps.log.warn({ peer: by, principal, problem }, "refused a forwarded write: its principal is not valid here");
    throw new AppError("unauthorized", `the principal ${by} forwarded is not valid on the leader: ${problem}`);
  }
  return principal;
}

/** A cluster token must still exist here, belong to that cluster and not be revoked. */
function clusterTokenProblem(deps: ApiDeps, principal: Extract<Principal, { kind: "cluster" }>): string | undefined {
  const token = reads.getToken(deps.store.db, principal.cluster, principal.tokenId);
  if (!token) return `cluster ${principal.cluster} has no token ${principal.tokenId}`;
  if (token.revokedAt !== null) return `token ${principal.tokenId} of cluster ${principal.cluster} was revoked at ${token.revokedAt}`;
  return undefined;
}

/** An admin must still be configured here, under the same name (a token removed here no longer acts). */
function adminProblem(deps: ApiDeps, principal: Extract<Principal, { kind: "admin" }>): string | undefined {
  return deps.adminTokens.some((admin) => admin.name === principal.name) ? undefined : `no admin named ${principal.name} is configured here`;
}
