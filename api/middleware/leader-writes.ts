import type { MiddlewareHandler } from "hono";
import { AppError, errorMessage } from "../../appliance/errors.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin } from "./auth.js";
import { REQUEST_ID_HEADER } from "./request-log.js";

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** An admin's explicit request to write on this gateway although no leader is reachable. */
export const WRITE_WITHOUT_LEADER_HEADER = "Egw-Write-Without-Leader";

/**
 * In a gateway group only the leader (the VRRP master) writes. A write sent to another gateway is
 * forwarded to the leader over the mutually authenticated replication channel, with the principal this
 * gateway authenticated (runs after authenticate()), and the leader's answer is passed back; clients
 * therefore never need to know which gateway leads.
 *
 * With no leader reachable (both gateways in fault, the peer down while this one cannot be master), an
 * admin can still repair the configuration: with `Egw-Write-Without-Leader: true` the write is committed
 * here, stamped as off the leader's history (see performWrite and docs/high-availability.md).
 */
export function leaderWrites(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const ha = c.get("deps").ha;
    if (!ha || !WRITES.has(c.req.method) || ha.isLeader()) return next();
    if (c.env?.forwarded) {
      throw new AppError("not-ready", "the peer forwarded this write here, but this gateway no longer leads; retry shortly");
    }
    let leader = ha.leader();
    if (c.req.header(WRITE_WITHOUT_LEADER_HEADER)?.trim().toLowerCase() === "true") {
      requireAdmin(c.get("principal"));
      const probe = await ha.probeLeader();
      if ("reason" in probe) {
        c.set("withoutLeader", probe.reason);
        return next();
      }
      leader = probe.leader;
    }
    if (!leader) {
      throw new AppError("not-ready",
        `this gateway is not the leader and no leader is known yet; retry shortly (an admin may write here anyway with ${WRITE_WITHOUT_LEADER_HEADER}: true)`);
    }
    const url = new URL(c.req.url);
    // Read (and bounded by the body limit) before forwarding: a 413 is the client's answer, not a 503.
    const body = await c.req.arrayBuffer();
    try {
      // The leader logs and audits the write under the id this gateway gave the request (the client's, or a new one).
      const headers = new Headers(c.req.raw.headers);
      headers.set(REQUEST_ID_HEADER, c.get("requestId"));
      const answer = await leader.forward(c.req.method, `${url.pathname}${url.search}`, headers, body, c.get("principal"));
      const answered = new Headers(answer.headers);
      answered.set("Egw-Forwarded-To", leader.name);
      return new Response(answer.body, { status: answer.status, headers: answered });
    } catch (error) {
      // Not a passing condition to retry: the two gateways' releases are too far apart (see the problem's detail).
      if (error instanceof AppError && error.code === "incompatible-peer") throw error;
      throw new AppError("not-ready", `forwarding the write to leader ${leader.name} failed: ${errorMessage(error)}`, { cause: error });
    }
  };
}
