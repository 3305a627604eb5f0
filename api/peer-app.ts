import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError } from "../appliance/errors.js";
import type { ApiDeps, ApiEnv } from "./context.js";
import { FORWARDED_MARKER } from "./middleware/leader-writes.js";
import { problemResponse, toProblem } from "./problem.js";
import { replicationRoutes } from "./routes/replication.js";

/**
 * The app of the replication listener, which only the peer gateway can reach (it binds to the sync link,
 * our nft table admits only the peer to its port, and mutual TLS admits only the peer's certificate). It
 * serves replication and the writes a backup forwards to the leader; nothing of the public API is here,
 * and the public listeners serve nothing of this.
 */
export function createPeerApp(deps: ApiDeps, publicApp: { fetch: (request: Request) => Response | Promise<Response> }, bodyLimitBytes: number): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.use("*", async (c, next) => {
    c.set("deps", deps);
    await next();
  });
  app.use("*", bodyLimit({
    maxSize: bodyLimitBytes,
    onError: () => {
      throw new AppError("payload-too-large", `the replication message is larger than ${bodyLimitBytes} bytes`);
    },
  }));
  app.route("/internal/v1/replication", replicationRoutes);
  // A write a backup received: handled here exactly as if the client had sent it to this gateway.
  app.all("/internal/v1/forward/*", async (c) => {
    const url = new URL(c.req.url);
    const path = url.pathname.slice("/internal/v1/forward".length);
    const headers = new Headers(c.req.raw.headers);
    headers.set(FORWARDED_MARKER, "1");
    const body = ["GET", "HEAD"].includes(c.req.method) ? undefined : await c.req.arrayBuffer();
    return publicApp.fetch(new Request(`http://leader${path}${url.search}`, { method: c.req.method, headers, body }));
  });
  app.notFound((c) => problemResponse(c, new AppError("not-found", `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    const problem = toProblem(error);
    if (problem.status >= 500) deps.log.error({ err: error, path: c.req.path, method: c.req.method }, "peer request failed");
    else deps.log.warn({ path: c.req.path, method: c.req.method, code: problem.code, detail: problem.message }, "peer request refused");
    return problemResponse(c, problem, c.req.path);
  });
  return app;
}
