import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import * as reads from "../../appliance/store/reads.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin } from "../middleware/auth.js";
import { jsonResponse, problemResponses } from "../schemas/common.js";

const auditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: "How many records, newest first (1-1000, default 100)." }),
});

const auditRecord = z.object({
  revision: z.number().int().openapi({ description: "The revision the change made" }),
  at: z.string(),
  actor: z.string().openapi({ description: "admin, admin:NAME, or cluster:NAME/token:ID" }),
  action: z.string(),
  resource: z.string(),
  before: z.unknown().openapi({ description: "The resource before the change (null when it was created)" }),
  after: z.unknown().openapi({ description: "The resource after the change (null when it was deleted)" }),
  requestId: z.string().nullable().openapi({ description: "The X-Request-Id of the API request that made the change, on the gateway that answered it; null on the other gateway of a pair" }),
}).openapi("AuditRecord");

const parsed = (json: string | null): unknown => (json === null ? null : JSON.parse(json));

/** The audit log as this gateway holds it, for the status page and the network team's own tools. */
export const auditRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/", tags: ["Operations"], security: [{ bearer: [] }], operationId: "listAuditRecords",
    summary: "The newest audit records: who changed what, when, before and after",
    request: { query: auditQuery },
    responses: { 200: jsonResponse(z.object({ records: z.array(auditRecord) }), "Newest first"), ...problemResponses(401, 403, 422, 429) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const records = reads.recentAuditRecords(c.get("deps").store.db, c.req.valid("query").limit);
    return c.json({ records: records.map((r) => ({ ...r, before: parsed(r.before), after: parsed(r.after) })) }, 200);
  });
