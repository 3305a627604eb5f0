import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../../appliance/errors.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin } from "../middleware/auth.js";
import { jsonResponse, problemResponses } from "../schemas/common.js";
import { BASE_HEADERS, writeRequestHeaders } from "../schemas/headers.js";

export const haRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "post", path: "/handover", tags: ["Operations"], security: [{ bearer: [] }], operationId: "handover",
    summary: "Graceful switchover: the master hands its VIPs to a peer (sent to a backup, it is forwarded to the master)",
    description: "An action, not a stored resource: it has no ETag, so If-Match holds only as `*`.",
    request: { headers: writeRequestHeaders },
    responses: {
      200: jsonResponse(z.object({ from: z.string(), role: z.string() }), "Mastership handed over; this gateway is now backup", BASE_HEADERS),
      ...problemResponses(401, 412, 429, 403, 404, 409, 503),
    },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const ha = c.get("deps").ha;
    if (!ha) throw new AppError("not-found", "handover needs HA mode (an ha section in the config)");
    const ifMatch = c.req.header("if-match");
    if (ifMatch !== undefined && ifMatch.trim() !== "*") {
      throw new AppError("precondition-failed", "a handover is an action without an ETag: If-Match holds only as *; nothing was changed",
        { fields: [{ field: "If-Match", reason: "only * holds for an action" }] });
    }
    return c.json(await ha.handover(), 200);
  });
