import type { Context } from "hono";

/**
 * Lets go of a request's body once its write has committed. Hono keeps the body's text and its validated
 * form on the request until the answer has gone out, and with `?wait=true` that is after the whole
 * data-plane apply: for a 100k-mapping PUT, ≈20 MB held through the apply's own peak. Nothing reads the
 * body after its write (api/write.ts calls this then); a later read would find an empty object.
 */
export function forgetRequestBody(c: Context): void {
  c.req.bodyCache = {};
  c.req.addValidatedData("json", {});
}
