import type { MiddlewareHandler } from "hono";
import { AppError } from "../../appliance/errors.js";
import { PROTOCOL_ACCEPTS_HEADER, PROTOCOL_HEADER } from "../../appliance/replication/protocol.js";
import type { ApiEnv } from "../context.js";
import { problemResponse } from "../problem.js";

/**
 * The peer channel's first check (appliance/replication/protocol.ts): a message written in a replication
 * protocol version this gateway does not speak is refused with `incompatible-peer` before its body is read,
 * and every answer, refusals included, says which versions this gateway speaks. The guard logs the refusal
 * once and keeps it in /v1/status's warnings; it is not logged again per message here.
 */
export function peerProtocol(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const guard = c.get("deps").ha?.protocol;
    if (!guard) return next();
    let version: number;
    try {
      version = guard.admit(c.req.header(PROTOCOL_HEADER), c.req.header(PROTOCOL_ACCEPTS_HEADER));
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      const refusal = problemResponse(c, error, c.req.path);
      for (const [name, value] of Object.entries(guard.headers())) refusal.headers.set(name, value);
      return refusal;
    }
    await next();
    const headers = guard.headers(version);
    try {
      for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
    } catch {
      // An answer with immutable headers (one passed through from fetch): copy it once to stamp the version.
      c.res = new Response(c.res.body, c.res);
      for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
    }
  };
}
