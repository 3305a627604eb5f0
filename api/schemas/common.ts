import { z } from "@hono/zod-openapi";
import { ERROR_CATALOGUE } from "../../appliance/errors.js";
import { BASE_HEADERS, PROBLEM_HEADERS, READ_HEADERS, WRITE_HEADERS } from "./headers.js";

export { cidr, description, dnsLabel, DNS_LABEL_PATTERN, ipAddress, printableText } from "../../appliance/schemas/inputs.js";
import { dnsLabel } from "../../appliance/schemas/inputs.js";

export const clusterNameParam = z.object({
  name: dnsLabel.openapi({ param: { name: "name", in: "path" }, example: "prod-eu1" }),
});

export const waitQuery = z.object({
  wait: z.enum(["true", "false"]).optional().openapi({ description: "Answer only once the data plane has applied the change." }),
  waitTimeoutMs: z.coerce.number().int().min(1).max(120_000).optional()
    .openapi({ description: "Longest wait (capped by the daemon's api.waitTimeoutMs)." }),
});

export const problemSchema = z.object({
  type: z.string().openapi({ example: "https://egw.dev/problems/validation-failed" }),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.enum(Object.keys(ERROR_CATALOGUE) as [keyof typeof ERROR_CATALOGUE, ...(keyof typeof ERROR_CATALOGUE)[]]),
  fields: z.array(z.object({ field: z.string(), reason: z.string() })).optional(),
}).passthrough().openapi("Problem");

type Headers = Record<string, { description: string; schema: { type: "string" | "integer" } }>;

export function problemResponses(...statuses: number[]) {
  const responses: Record<number, { description: string; headers: Headers; content: { "application/problem+json": { schema: typeof problemSchema } } }> = {};
  const described: Record<number, string> = {
    400: "Malformed JSON", 401: "Missing, unknown or revoked token", 403: "Not allowed for this token, not owned by the cluster, or over its quota",
    404: "Not found", 409: "Conflict (overlap, duplicate, still in use)",
    412: "If-Match does not hold: the resource changed since it was read (or does not exist); nothing was changed",
    413: "Body too large", 415: "Body is not JSON",
    422: "Invalid input (per-field list)",
    429: "Too many requests (rate limit, failed authentications, a bulk write of the cluster in flight); see Retry-After",
    500: "Stored, but the data plane failed to apply it (with ?wait=true)",
    503: "Not ready, or (a write in a gateway group) no leader reachable; see Retry-After",
    504: "Stored, but not applied in time (with ?wait=true)",
  };
  for (const status of statuses) {
    responses[status] = { description: described[status] ?? "Error", headers: PROBLEM_HEADERS[status] ?? BASE_HEADERS, content: { "application/problem+json": { schema: problemSchema } } };
  }
  return responses;
}

export const jsonBody = <T extends z.ZodType>(schema: T, descriptionText: string) => ({
  required: true,
  description: descriptionText,
  content: { "application/json": { schema } },
});

/** The problems every write may answer besides its own: a stale If-Match (412), no leader reachable (503). */
export const WRITE_PROBLEMS = [401, 412, 429, 503] as const;

export const jsonResponse = <T extends z.ZodType>(schema: T, descriptionText: string, headers: Headers = READ_HEADERS) => ({
  description: descriptionText,
  headers,
  content: { "application/json": { schema } },
});

export const noContent = (descriptionText: string) => ({ description: descriptionText, headers: WRITE_HEADERS });
