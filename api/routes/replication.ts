import { Hono } from "hono";
import { AppError } from "../../appliance/errors.js";
import { secretsEqual } from "../../appliance/service/tokens.js";
import type { ApiEnv } from "../context.js";

/**
 * The gateways' internal channel: replication between peers, authenticated with the shared peer secret
 * (never with admin or cluster tokens). Not part of the public API document.
 */
export const replicationRoutes = new Hono<ApiEnv>()
  .use("*", async (c, next) => {
    const ha = c.get("deps").ha;
    if (!ha) throw new AppError("not-found", "replication is only available in HA mode");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    if (!match || !secretsEqual(match[1] as string, ha.peerSecret)) throw new AppError("unauthorized", "peer secret missing or wrong");
    await next();
  })
  .get("/replication/state", (c) => c.json(c.get("deps").ha!.follower.state()))
  .post("/replication/changes", async (c) => c.json(c.get("deps").ha!.follower.acceptChanges(await c.req.json())))
  .post("/replication/snapshot", async (c) => c.json(c.get("deps").ha!.follower.acceptSnapshot(await c.req.json())));
