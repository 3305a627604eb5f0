import type { MiddlewareHandler } from "hono";
import { AppError } from "../../appliance/errors.js";

/** A write whose body is not declared as JSON would otherwise be read as an empty object; refuse it plainly. */
export function jsonOnly(): MiddlewareHandler {
  return async (c, next) => {
    if (["POST", "PUT", "PATCH"].includes(c.req.method)) {
      const declared = c.req.header("content-type");
      const hasBody = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("transfer-encoding") !== undefined;
      const type = (declared ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
      // A declared type must be JSON whatever the length; an undeclared one matters only with a body.
      if ((declared !== undefined || hasBody) && type !== "application/json") {
        throw new AppError("unsupported-media-type", `send the body as application/json (got ${type || "no content type"})`);
      }
    }
    await next();
  };
}
