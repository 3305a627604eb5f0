import { z } from "@hono/zod-openapi";

/** Response headers, documented once and attached to every operation's answers (api/schemas/common.ts). */
const header = (description: string, schema: { type: "string" | "integer" } = { type: "string" }) => ({ description, schema });

const requestId = header("The request's id: the client's X-Request-Id when it sent a usable one, else one the daemon made up. It is in the daemon's request log and in the audit record of the write.");
const etag = header("Strong entity tag of the resource's current representation (a hash of its JSON). Send it back in If-Match to write only if nothing changed in between, or in If-None-Match to be told 304.");

export const BASE_HEADERS = { "X-Request-Id": requestId };
export const READ_HEADERS = { ETag: etag, ...BASE_HEADERS };
export const LIST_HEADERS = {
  ...READ_HEADERS,
  Link: header("RFC 8288 link to the next page (`<…?limit=…&cursor=…>; rel=\"next\"`), present only when there is one."),
};
export const WRITE_HEADERS = {
  ETag: header("The entity tag of the written resource afterwards (absent after a delete)."),
  "Egw-Revision": header("The store revision this write committed (or the current one, when the write changed nothing).", { type: "integer" }),
  "Egw-Applied-Revision": header("With ?wait=true: the revision the data plane has applied.", { type: "integer" }),
  "Egw-Written-Without-Leader": header("Set when an admin wrote with Egw-Write-Without-Leader: this gateway and why no leader was reachable."),
  "Egw-Forwarded-To": header("In a gateway group: the leader this backup forwarded the write to."),
  "Egw-Replicated-To": header("In a gateway group: the peers that confirmed the write before it was acknowledged."),
  "Egw-Replication-Behind": header("In a gateway group: the peers that did not confirm it in time, with their link's state (`gw-b=unreachable`)."),
  "Egw-Replication-Risk": header("In a gateway group: a revocation not yet in force on an unreachable peer."),
  ...BASE_HEADERS,
};
export const CREATED_HEADERS = { ...WRITE_HEADERS, Location: header("The URL path of the created resource.") };

export const PROBLEM_HEADERS: Record<number, Record<string, ReturnType<typeof header>>> = {
  401: { "WWW-Authenticate": header("RFC 6750: `Bearer realm=\"egw\"`, with `error=\"invalid_token\"` when a token was sent and is not valid."), ...BASE_HEADERS },
  412: { ETag: header("The resource's current entity tag (absent when it does not exist)."), ...BASE_HEADERS },
  429: { "Retry-After": header("Seconds to wait before retrying.", { type: "integer" }), ...BASE_HEADERS },
  503: { "Retry-After": header("Seconds to wait before retrying.", { type: "integer" }), ...BASE_HEADERS },
};

const requestIdParam = z.string().optional()
  .openapi({ description: "Optional: an id for this request, echoed in X-Request-Id and kept in the request log and audit record." });

/** The request headers of a read: a request id, and If-None-Match for a conditional GET. */
export const readRequestHeaders = z.object({
  "if-none-match": z.string().optional().openapi({ description: "An ETag read before: the answer is 304 without a body if it is still current." }),
  "x-request-id": requestIdParam,
});

/** The request headers of a write: a request id, If-Match for a conditional write, an admin's write without a leader. */
export const writeRequestHeaders = z.object({
  "if-match": z.string().optional()
    .openapi({ description: "Write only if the target's current ETag is one of these (`*`: only if it exists); otherwise 412 and nothing changes." }),
  "egw-write-without-leader": z.string().optional()
    .openapi({ description: "`true` (admin only): in a gateway group with no leader reachable, commit the write on this gateway anyway, off the leader's history (see docs/high-availability.md)." }),
  "x-request-id": requestIdParam,
});

/** The answer to a conditional GET whose If-None-Match names the current ETag. */
export const NOT_MODIFIED = { 304: { description: "Not modified: If-None-Match names the current ETag", headers: READ_HEADERS } };
