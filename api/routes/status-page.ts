import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError } from "../../appliance/errors.js";
import { StatusPageFiles } from "../../appliance/system/status-page-files.js";
import type { ApiEnv } from "../context.js";
import { auditRoutes } from "./audit.js";

/**
 * The page may run only its own script and style, talk only to this daemon, and never be framed: whatever a
 * stored value holds, it cannot become code (the script also writes every value as text, never as markup).
 */
export const STATUS_PAGE_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "Content-Security-Policy": STATUS_PAGE_CSP,
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  // Revalidated on every load (cheap with the ETag), so an upgraded daemon serves its own page at once.
  "Cache-Control": "no-cache",
};

const files = new StatusPageFiles();

function serve(c: Context<ApiEnv>, name: string): Response {
  const file = files.get(name);
  if (!file) throw new AppError("not-found", `the status page has no file ${name}`);
  const headers = { ...SECURITY_HEADERS, ETag: file.etag };
  if (c.req.header("if-none-match") === file.etag) return c.body(null, 304, headers);
  return c.body(file.body, 200, { ...headers, "Content-Type": file.contentType });
}

/**
 * The status page (/ui/) and the audit list it shows (/v1/audit). The page's files hold no data and are served
 * without a token; everything it shows comes from the JSON API with the admin token the operator signs in with.
 */
export const statusPageRoutes = new OpenAPIHono<ApiEnv>()
  .get("/", (c) => c.redirect("/ui/", 302))
  .get("/ui", (c) => c.redirect("/ui/", 301))
  .get("/ui/", (c) => serve(c, "index.html"))
  .get("/ui/:file", (c) => serve(c, c.req.param("file")))
  .route("/v1/audit", auditRoutes);
