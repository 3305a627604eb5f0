import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../../appliance/errors.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin } from "../middleware/auth.js";
import { jsonResponse, problemResponses } from "../schemas/common.js";

export const haRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "post", path: "/handover", tags: ["Operations"], security: [{ bearer: [] }],
    summary: "Graceful switchover: the master hands its VIPs to a peer (sent to a backup, it is forwarded to the master)",
    responses: {
      200: jsonResponse(z.object({ from: z.string(), role: z.string() }), "Mastership handed over; this gateway is now backup"),
      ...problemResponses(401, 429, 403, 404, 409, 503),
    },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const ha = c.get("deps").ha;
    if (!ha) throw new AppError("not-found", "handover needs HA mode (an ha section in the config)");
    return c.json(await ha.handover(), 200);
  });
