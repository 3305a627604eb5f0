import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError } from "../appliance/errors.js";
import { FORWARDED_HEADERS, FORWARDED_PRINCIPAL_HEADER } from "../appliance/replication/peer-client.js";
import type { ApiDeps, ApiEnv, ForwardedRequest } from "./context.js";
import { parseForwardedPrincipal } from "./middleware/forwarded-principal.js";
import { peerProtocol } from "./middleware/peer-protocol.js";
import { problemResponse, toProblem } from "./problem.js";
import { replicationRoutes } from "./routes/replication.js";

/**
 * The app of the replication listener, which only the peer gateway can reach (it binds to the sync link,
 * and mutual TLS admits only the peer's pinned certificate). It serves replication and the writes a backup
 * forwards to the leader; nothing of the public API is here, and the public listeners serve nothing of this.
 */
export function createPeerApp(
  deps: ApiDeps,
  publicApp: { fetch: (request: Request, env: ApiEnv["Bindings"]) => Response | Promise<Response> },
  options: { bodyLimitBytes: number; peerName: string },
): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const log = deps.log.child({ peer: options.peerName });
  app.use("*", async (c, next) => {
    c.set("deps", deps);
    await next();
  });
  // Before the body limit: a message in a protocol version this gateway does not speak is refused unread.
  app.use("*", peerProtocol());
  app.use("*", bodyLimit({
    maxSize: options.bodyLimitBytes,
    onError: () => {
      throw new AppError("payload-too-large", `the replication message is larger than ${options.bodyLimitBytes} bytes`);
    },
  }));
  app.route("/internal/v1/replication", replicationRoutes);
  // A write a backup received and authenticated: handled here as that principal, exactly as if the client
  // had sent it to this gateway with its own token. The principal travels in the env, which only this app sets.
  app.all("/internal/v1/forward/*", async (c) => {
    const forwarded: ForwardedRequest = { principal: parseForwardedPrincipal(c.req.header(FORWARDED_PRINCIPAL_HEADER)), by: options.peerName };
    const url = new URL(c.req.url);
    const path = url.pathname.slice("/internal/v1/forward".length);
    // Exactly the headers the backup forwards (one list, so a precondition such as If-Match cannot be lost on
    // this hop), handed to the public app (the request id checked again there); everything else stays here.
    const headers = new Headers();
    for (const name of FORWARDED_HEADERS) {
      const value = c.req.header(name);
      if (value !== undefined) headers.set(name, value);
    }
    const body = ["GET", "HEAD"].includes(c.req.method) ? undefined : await c.req.arrayBuffer();
    log.debug({ method: c.req.method, path, principal: forwarded.principal }, "write forwarded by the peer");
    return publicApp.fetch(new Request(`http://leader${path}${url.search}`, { method: c.req.method, headers, body }), { forwarded });
  });
  app.notFound((c) => problemResponse(c, new AppError("not-found", `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    const problem = toProblem(error);
    const fields = { path: c.req.path, method: c.req.method, code: problem.code, detail: problem.message };
    if (problem.status >= 500) log.error({ ...fields, err: error }, "peer request failed");
    else log.warn(fields, "peer request refused");
    return problemResponse(c, problem, c.req.path);
  });
  return app;
}
