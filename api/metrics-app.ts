import { Hono } from "hono";
import type { Registry } from "prom-client";
import { AppError } from "../appliance/errors.js";
import { secretsEqual } from "../appliance/service/tokens.js";
import { problemResponse, toProblem } from "./problem.js";
import { NOT_READY_RETRY_AFTER_SECONDS } from "./routes/ops.js";

export interface MetricsAppDeps {
  registry: Registry;
  /** Absent: scrapes need no token (the listener's address is the operator's access control). */
  token?: string | undefined;
  ready(): boolean;
}

/**
 * The metrics listeners' app: /metrics for Prometheus, /healthz and /readyz for load balancers and
 * supervisors, and nothing else — no token here ever grants more than reading these.
 */
export function createMetricsApp(deps: MetricsAppDeps): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    if (deps.ready()) return c.json({ status: "ready" }, 200);
    c.header("Retry-After", String(NOT_READY_RETRY_AFTER_SECONDS));
    return c.json({ status: "not ready" }, 503);
  });
  app.get("/metrics", async (c) => {
    if (deps.token !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
      if (!match || !secretsEqual(match[1] as string, deps.token)) {
        throw new AppError("unauthorized", "send the metrics token as 'Authorization: Bearer <token>'",
          { headers: { "WWW-Authenticate": 'Bearer realm="egw-metrics"' } });
      }
    }
    return c.body(await deps.registry.metrics(), 200, { "content-type": deps.registry.contentType });
  });
  app.notFound((c) => problemResponse(c, new AppError("not-found", `the metrics listener serves /metrics, /healthz and /readyz, not ${c.req.path}`)));
  app.onError((error, c) => problemResponse(c, toProblem(error), c.req.path));
  return app;
}
