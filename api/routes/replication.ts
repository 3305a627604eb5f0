import { Hono } from "hono";
import { AppError } from "../../appliance/errors.js";
import type { ApiEnv } from "../context.js";

/**
 * The follower's side of configuration replication. Served only by the peer app, on the replication
 * listener, where mutual TLS has already proven that the caller is the configured peer gateway. The bodies
 * are checked by the follower itself (appliance/replication/messages.ts), never trusted as typed.
 */
export const replicationRoutes = new Hono<ApiEnv>()
  .use("*", async (c, next) => {
    if (!c.get("deps").ha) throw new AppError("not-found", "replication is only available in HA mode");
    await next();
  })
  .get("/state", (c) => c.json(c.get("deps").ha!.follower.state()))
  .post("/changes", async (c) => c.json(c.get("deps").ha!.follower.acceptChanges(await c.req.json<unknown>())))
  .post("/snapshot", async (c) => c.json(c.get("deps").ha!.follower.acceptSnapshot(await c.req.json<unknown>())))
  .post("/heartbeat", async (c) => c.json(c.get("deps").ha!.follower.acceptHeartbeat(await c.req.json<unknown>())));
