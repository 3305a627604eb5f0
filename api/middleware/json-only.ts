import type { MiddlewareHandler } from "hono";
import { AppError } from "../../appliance/errors.js";

/**
 * A write whose body is not declared as JSON would otherwise be read as an empty object; refuse it plainly.
 * A PATCH may also declare itself a JSON merge patch (RFC 7396), which is JSON.
 */
export function jsonOnly(): MiddlewareHandler {
  return async (c, next) => {
    if (["POST", "PUT", "PATCH"].includes(c.req.method)) {
      const declared = c.req.header("content-type");
      const hasBody = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("transfer-encoding") !== undefined;
      const type = (declared ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
      // A declared type must be JSON whatever the length; an undeclared one matters only with a body.
      const json = type === "application/json" || (c.req.method === "PATCH" && type === "application/merge-patch+json");
      if ((declared !== undefined || hasBody) && !json) {
        const wanted = c.req.method === "PATCH" ? "application/merge-patch+json or application/json" : "application/json";
        throw new AppError("unsupported-media-type", `send the body as ${wanted} (got ${type || "no content type"})`);
      }
    }
    await next();
  };
}
