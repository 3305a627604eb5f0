import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { ApiEnv } from "../context.js";
import { requireAdmin } from "../middleware/auth.js";
import { jsonResponse, problemResponses } from "../schemas/common.js";
import { BASE_HEADERS, PROBLEM_HEADERS } from "../schemas/headers.js";

const tags = ["Operations"];
const health = z.object({ status: z.string().openapi({ example: "ok" }) }).openapi("Health");

/** Seconds a load balancer or client should wait before asking a gateway that is not ready again. */
export const NOT_READY_RETRY_AFTER_SECONDS = 5;

/**
 * Health endpoints for load balancers and supervisors (no token: they disclose nothing), and the metrics,
 * which on the API listeners need the admin token: every egress IP's traffic is not for tenants to read.
 * Prometheus scrapes the metrics listeners instead (metrics.listen), which serve the same three paths.
 */
export const opsRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/healthz", tags, operationId: "getHealth", security: [],
    summary: "Liveness: the daemon answers (no token)",
    responses: { 200: jsonResponse(health, "The daemon is alive: `{\"status\": \"ok\"}`", BASE_HEADERS) },
  }), (c) => c.json({ status: "ok" }, 200))
  .openapi(createRoute({
    method: "get", path: "/readyz", tags, operationId: "getReadiness", security: [],
    summary: "Readiness: the data plane has applied the configuration and the store can be written (no token)",
    responses: {
      200: jsonResponse(health, "Ready: `{\"status\": \"ready\"}`", BASE_HEADERS),
      503: { description: "Not ready yet: `{\"status\": \"not ready\"}`; see Retry-After", headers: PROBLEM_HEADERS[503], content: { "application/json": { schema: health } } },
    },
  }), (c) => {
    if (c.get("deps").dataplane.ready()) return c.json({ status: "ready" }, 200);
    c.header("Retry-After", String(NOT_READY_RETRY_AFTER_SECONDS));
    return c.json({ status: "not ready" }, 503);
  })
  // Authenticated by the app (api/app.ts), with the same failure limits as /v1.
  .openapi(createRoute({
    method: "get", path: "/metrics", tags, operationId: "getMetrics", security: [{ bearer: [] }],
    summary: "Prometheus metrics (admin token; the metrics listeners serve them to Prometheus, with their own token if any)",
    responses: {
      200: { description: "The Prometheus text exposition format", headers: BASE_HEADERS, content: { "text/plain": { schema: z.string() } } },
      ...problemResponses(401, 403, 429),
    },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const registry = c.get("deps").metrics;
    return c.text(await registry.metrics(), 200, { "content-type": registry.contentType });
  });
