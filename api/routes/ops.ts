import { Hono } from "hono";
import type { ApiEnv } from "../context.js";

/** Unauthenticated endpoints for load balancers, supervisors and Prometheus. */
export const opsRoutes = new Hono<ApiEnv>()
  .get("/healthz", (c) => c.json({ status: "ok" }))
  .get("/readyz", (c) => {
    const ready = c.get("deps").dataplane.ready();
    return c.json({ status: ready ? "ready" : "not ready" }, ready ? 200 : 503);
  })
  .get("/metrics", async (c) => {
    const registry = c.get("deps").metrics;
    return c.body(await registry.metrics(), 200, { "content-type": registry.contentType });
  });
