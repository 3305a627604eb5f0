import { Hono } from "hono";
import type { ApiEnv } from "../context.js";
import { requireAdmin } from "../middleware/auth.js";

/**
 * Health endpoints for load balancers and supervisors (no token: they disclose nothing), and the metrics,
 * which on the API listeners need the admin token: every egress IP's traffic is not for tenants to read.
 * Prometheus scrapes the metrics listeners instead (metrics.listen).
 */
export const opsRoutes = new Hono<ApiEnv>()
  .get("/healthz", (c) => c.json({ status: "ok" }))
  .get("/readyz", (c) => {
    const ready = c.get("deps").dataplane.ready();
    return c.json({ status: ready ? "ready" : "not ready" }, ready ? 200 : 503);
  })
  // Authenticated by the app (api/app.ts), with the same failure limits as /v1.
  .get("/metrics", async (c) => {
    requireAdmin(c.get("principal"));
    const registry = c.get("deps").metrics;
    return c.body(await registry.metrics(), 200, { "content-type": registry.contentType });
  });
