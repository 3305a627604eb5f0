import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Logger } from "pino";
import { UNMATCHED_ROUTE, type HttpObservation } from "../../appliance/http-metrics.js";
import type { ApiEnv } from "../context.js";
import { clientKey } from "../limits/client-address.js";
import { actorOf } from "./auth.js";

export const REQUEST_ID_HEADER = "X-Request-Id";

/** Printable ASCII without spaces, at most 128 characters: a UUID, a ULID, a trace id, "ci-run-42/step-3". */
const ACCEPTABLE_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Load balancers, supervisors and Prometheus call these every few seconds: their lines would bury the API's at info,
 * so they are logged at debug (and counted like every other request).
 */
const PROBES = new Set(["/healthz", "/readyz", "/metrics"]);

/** The methods the metrics name; anything else is counted as OTHER (the label must stay bounded). */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export interface RequestLogOptions {
  log: Logger;
  /** Counts and times the request (egw_http_requests_total, egw_http_request_duration_seconds). */
  record?: (observation: HttpObservation) => void;
}

/** The client's request id if it is one we can log and echo safely, else a new random one. */
export function requestIdFrom(header: string | undefined): string {
  return header !== undefined && ACCEPTABLE_REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * The first middleware of the API: it gives every request an id (the client's `X-Request-Id` if acceptable, so a
 * caller can follow its own id through our logs and audit records), echoes it on every answer (401s and problems
 * included), and writes one log line per request — at error for a 5xx, else at info — and its metrics. Its cost is
 * one counter, one histogram observation and one log line.
 */
export function requestLog(options: RequestLogOptions): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const started = performance.now();
    const requestId = requestIdFrom(c.req.header(REQUEST_ID_HEADER));
    c.set("requestId", requestId);
    // Errors never escape next(): hono's compose turns them into the app's error answer first.
    await next();
    const durationSeconds = (performance.now() - started) / 1000;
    setRequestIdHeader(c, requestId);
    const status = c.res.status;
    const route = routePattern(c);
    const method = METHODS.has(c.req.method) ? c.req.method : "OTHER";
    options.record?.({ route, method, status, durationSeconds });
    const principal = c.get("principal");
    const forwardedBy = c.env?.forwarded?.by;
    const line = {
      requestId, method, route, status, durationMs: Math.round(durationSeconds * 10_000) / 10,
      actor: principal ? actorOf(principal) : null, client: forwardedBy ? `peer:${forwardedBy}` : clientKey(c),
    };
    if (status >= 500) options.log.error(line, "request");
    else if (PROBES.has(route)) options.log.debug(line, "request");
    else options.log.info(line, "request");
  };
}

/**
 * The pattern of the route the request was for (`/v1/clusters/:name/mappings`), also when a middleware answered
 * first (a 401, a 413, a 429), or "unmatched" when no route has this method and path: middleware registers as
 * method ALL, our routes name their method.
 */
export function routePattern(c: Parameters<typeof matchedRoutes>[0]): string {
  return matchedRoutes(c).find((route) => route.method !== "ALL")?.path ?? UNMATCHED_ROUTE;
}

function setRequestIdHeader(c: Parameters<MiddlewareHandler<ApiEnv>>[0], requestId: string): void {
  try {
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
  } catch {
    // A response with immutable headers (a fetch() answer passed through): copy it once.
    c.res = new Response(c.res.body, c.res);
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
  }
}
