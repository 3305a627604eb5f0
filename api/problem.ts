import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { AppError } from "../appliance/errors.js";

const PROBLEM_BASE = "https://egw.dev/problems/";

/** Turns any thrown value into an RFC 9457 problem document; unknown errors never leak their message. */
export function toProblem(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof HTTPException) {
    if (error.status === 400) return new AppError("malformed-json", error.message || "the request body is not valid JSON");
    if (error.status === 413) return new AppError("payload-too-large", error.message);
    if (error.status === 415) return new AppError("unsupported-media-type", error.message);
    if (error.status === 401) return new AppError("unauthorized", error.message);
    if (error.status === 404) return new AppError("not-found", error.message);
  }
  return new AppError("internal", "an internal error occurred; see the daemon's log", { cause: error });
}

export function problemResponse(c: Context, problem: AppError, instance?: string): Response {
  const body: Record<string, unknown> = {
    type: `${PROBLEM_BASE}${problem.code}`,
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    code: problem.code,
    ...(instance ? { instance } : {}),
    ...(problem.fields.length > 0 ? { fields: problem.fields } : {}),
    ...problem.extra,
  };
  return c.body(JSON.stringify(body), problem.status as 400, { ...defaultHeaders(problem), ...problem.headers, "content-type": "application/problem+json" });
}

/** Seconds to wait before retrying a 503: a leader is elected, a gateway becomes ready, within seconds. */
export const RETRY_AFTER_SECONDS = 2;

/**
 * Headers a status needs to be actionable, where the error did not set its own: RFC 9110 asks for
 * WWW-Authenticate on every 401; a 503 says when to retry — except a lookup too costly, which no retry helps.
 */
function defaultHeaders(problem: AppError): Record<string, string> {
  if (problem.status === 401) return { "WWW-Authenticate": 'Bearer realm="egw"' };
  if (problem.status === 503 && problem.code !== "lookup-too-costly") return { "Retry-After": String(RETRY_AFTER_SECONDS) };
  return {};
}
