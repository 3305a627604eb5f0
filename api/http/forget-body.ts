import type { Context } from "hono";

/**
 * Lets go of a request's body once its write has committed. Hono keeps the body's text and its validated
 * form on the request until the answer has gone out, and with `?wait=true` that is after the whole
 * data-plane apply: for a 100k-mapping PUT the text alone is 7 MB, held through the apply's own peak.
 * (The body validator's suspended frame still holds the parsed and validated body until then: only a
 * whole-set route that validated its body itself could drop those too.) Nothing reads the body after its
 * write (api/write.ts calls this then); a later read would find an empty object.
 */
export function forgetRequestBody(c: Context): void {
  c.req.bodyCache = {};
  c.req.addValidatedData("json", {});
}
