import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import * as reads from "../../appliance/store/reads.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin } from "../middleware/auth.js";
import { invalidField } from "../../appliance/errors.js";
import { nextField, PAGE_LIMIT_MAX, paginate } from "../http/pagination.js";
import { BASE_HEADERS, LIST_HEADERS } from "../schemas/headers.js";
import { jsonResponse, problemResponses } from "../schemas/common.js";

const DEFAULT_AUDIT_PAGE = 100;

const auditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(PAGE_LIMIT_MAX).default(DEFAULT_AUDIT_PAGE)
    .openapi({ description: `How many records, newest first (1 to ${PAGE_LIMIT_MAX}, default 100: the log holds up to audit.maxRecords, so it is always paged).` }),
  cursor: z.string().max(2048).optional()
    .openapi({ description: "Opaque: the `next` of the previous page (also in its `Link: <…>; rel=\"next\"` header)." }),
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

/** The audit log changes with every write: it answers no ETag, only the request id and the next page's link. */
const AUDIT_HEADERS = { ...BASE_HEADERS, Link: LIST_HEADERS.Link };

const parsed = (json: string | null): unknown => (json === null ? null : JSON.parse(json));

/** The audit log as this gateway holds it, for the status page and the network team's own tools. */
export const auditRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/", tags: ["Operations"], security: [{ bearer: [] }], operationId: "listAuditRecords",
    summary: "The newest audit records: who changed what, when, before and after",
    request: { query: auditQuery },
    responses: {
      200: jsonResponse(z.object({ records: z.array(auditRecord), next: nextField }), "Newest first", AUDIT_HEADERS),
      ...problemResponses(401, 403, 422, 429),
    },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const db = c.get("deps").store.db;
    const page = paginate(c, {
      // Never asked for: with a default limit, the log is always answered a page at a time.
      all: () => [],
      after: (key, count) => {
        if (key !== undefined && typeof key[0] !== "number") throw invalidField("cursor", "not a cursor this API returned; start again without one");
        return reads.recentAuditRecords(db, count, key?.[0] as number | undefined);
      },
    }, (r) => [r.id], true, DEFAULT_AUDIT_PAGE);
    const records = page.items.map(({ id: _id, ...r }) => ({ ...r, before: parsed(r.before), after: parsed(r.after) }));
    return c.json({ records, next: page.next }, 200);
  });
