import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Hono } from "hono";
import { problemResponse, toProblem } from "../../../api/problem.js";
import { AppError, ERROR_CATALOGUE, PROBLEM_MEMBERS, type ErrorCode, type ProblemExtra } from "../../../appliance/errors.js";

/** An app whose one route throws `error`, answered the way every app of the daemon answers errors. */
function answering(error: unknown) {
  const app = new Hono();
  app.get("/x", () => {
    throw error;
  });
  app.onError((thrown, c) => problemResponse(c, toProblem(thrown), c.req.path));
  return app;
}

describe("problem documents", () => {
  for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) {
    it(`${code}: code, type, title and status on the wire are the catalogue's`, async () => {
      const response = await answering(new AppError(code, "detail")).request("/x");
      const body = await response.json() as Record<string, unknown>;
      assert.equal(response.status, ERROR_CATALOGUE[code].status);
      assert.equal(response.headers.get("content-type"), "application/problem+json");
      assert.deepEqual(body, {
        type: `https://egw.dev/problems/${code}`, title: ERROR_CATALOGUE[code].title, status: ERROR_CATALOGUE[code].status,
        detail: "detail", code, instance: "/x",
      });
    });
  }

  it("extension members sit beside the standard ones and never replace them", async () => {
    const extra = Object.fromEntries([...PROBLEM_MEMBERS, "state"].map((member) => [member, "from extra"])) as ProblemExtra;
    const error = new AppError("out-of-sync", "behind", { extra, fields: [{ field: "base", reason: "differs" }] });
    const body = await (await answering(error).request("/x")).json() as Record<string, unknown>;
    assert.deepEqual(body, {
      type: "https://egw.dev/problems/out-of-sync", title: ERROR_CATALOGUE["out-of-sync"].title, status: 409, detail: "behind",
      code: "out-of-sync", instance: "/x", fields: [{ field: "base", reason: "differs" }], state: "from extra",
    });
  });

  it("an unknown error is internal and does not leak its message", async () => {
    const body = await (await answering(new Error("secret path /etc/x")).request("/x")).json() as Record<string, unknown>;
    assert.equal(body["code"], "internal");
    assert.doesNotMatch(String(body["detail"]), /secret/);
  });
});
