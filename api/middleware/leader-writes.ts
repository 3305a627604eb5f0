import type { MiddlewareHandler } from "hono";
import { AppError, errorMessage } from "../../appliance/errors.js";
import type { ApiEnv } from "../context.js";

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Set on a write the peer forwarded to us: it is never forwarded again, so a leadership race cannot bounce it. */
export const FORWARDED_MARKER = "egw-forwarded-by-peer";

/**
 * In a gateway group only the leader (the VRRP master) writes. A write sent to another gateway is
 * forwarded to the leader over the mutually authenticated replication channel, and the leader's answer is
 * passed back; clients therefore never need to know which gateway leads.
 */
export function leaderWrites(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const ha = c.get("deps").ha;
    if (!ha || !WRITES.has(c.req.method) || ha.isLeader()) return next();
    if (c.req.header(FORWARDED_MARKER) !== undefined) {
      throw new AppError("not-ready", "the peer forwarded this write here, but this gateway no longer leads; retry shortly");
    }
    const leader = ha.leader();
    if (!leader) throw new AppError("not-ready", "this gateway is not the leader and no leader is known yet; retry shortly");
    const url = new URL(c.req.url);
    try {
      const body = await c.req.arrayBuffer();
      const answer = await leader.forward(c.req.method, `${url.pathname}${url.search}`, c.req.raw.headers, body);
      const headers = new Headers(answer.headers);
      headers.set("Egw-Forwarded-To", leader.name);
      return new Response(answer.body, { status: answer.status, headers });
    } catch (error) {
      throw new AppError("not-ready", `forwarding the write to leader ${leader.name} failed: ${errorMessage(error)}`, { cause: error });
    }
  };
}
