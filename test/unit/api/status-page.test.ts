import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { STATUS_PAGE_CSP } from "../../../api/routes/status-page.js";
import { STATUS_PAGE_DIR } from "../../../appliance/paths.js";
import { expectProblem, expectStatus, Harness, tenants } from "./harness.js";

describe("status page files and the audit list", () => {
  it("serves the page's files without a token, with a strict CSP, nosniff, no framing and revalidation", async () => {
    const h = new Harness();
    for (const [path, type, file] of [["/ui/", /^text\/html/, "index.html"], ["/ui/app.js", /^text\/javascript/, "app.js"], ["/ui/style.css", /^text\/css/, "style.css"]] as const) {
      const response = await h.raw(path);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get("content-type") ?? "", type);
      assert.equal(response.headers.get("content-security-policy"), STATUS_PAGE_CSP);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.equal(response.headers.get("cache-control"), "no-cache");
      assert.equal(await response.text(), readFileSync(join(STATUS_PAGE_DIR, file), "utf8"), "shipped as written");
      const etag = response.headers.get("etag") ?? "";
      const again = await h.raw(path, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304, `${path} revalidates`);
    }
    assert.match(STATUS_PAGE_CSP, /default-src 'self'/);
    assert.match(STATUS_PAGE_CSP, /frame-ancestors 'none'/);
    assert.doesNotMatch(STATUS_PAGE_CSP, /unsafe/);
  });

  it("serves no other name under /ui/ (no path reaches the file system), and sends / and /ui to the page", async () => {
    const h = new Harness();
    for (const path of ["/ui/package.json", "/ui/..%2Fpackage.json", "/ui/%2e%2e%2fREADME.md", "/ui/constructor", "/ui/toString"]) {
      await expectProblem(await h.raw(path), 404, "not-found");
    }
    assert.equal((await h.raw("/")).headers.get("location"), "/ui/");
    assert.equal((await h.raw("/ui")).headers.get("location"), "/ui/");
  });

  it("lists the newest audit records, newest first, for the admin only", async () => {
    const { h, alpha, beta } = await tenants();
    await expectProblem(await h.raw("/v1/audit"), 401, "unauthorized");
    await expectProblem(await h.as(alpha.token, "GET", "/v1/audit"), 403, "forbidden");
    const body = await expectStatus(await h.admin("GET", "/v1/audit?limit=2"), 200);
    assert.equal(body.records.length, 2);
    assert.deepEqual(body.records.map((r: { resource: string }) => r.resource), [`clusters/beta/tokens/${beta.id}`, `clusters/alpha/tokens/${alpha.id}`]);
    const created = body.records[1];
    assert.equal(created.action, "create");
    assert.equal(created.actor, "admin");
    assert.equal(created.before, null);
    assert.equal(created.after.cluster, "alpha", "before and after are the resource, not a string");
    assert.ok(body.records[0].revision > created.revision);
    await expectProblem(await h.admin("GET", "/v1/audit?limit=0"), 422, "validation-failed", "limit");
  });

  it("pages the audit log newest first with a cursor, never repeating or skipping a record", async () => {
    const { h } = await tenants();
    const whole = await expectStatus(await h.admin("GET", "/v1/audit?limit=1000"), 200);
    assert.equal(whole.next, null);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const response = await h.admin("GET", `/v1/audit?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`);
      const page = await expectStatus(response, 200);
      seen.push(...page.records.map((r: { revision: number }) => r.revision));
      cursor = page.next;
      if (cursor !== null) assert.match(response.headers.get("link") ?? "", /cursor=.*rel="next"/);
    } while (cursor !== null);
    assert.deepEqual(seen, whole.records.map((r: { revision: number }) => r.revision));
    assert.ok(seen.length > 2, "more than one page");
    await expectProblem(await h.admin("GET", "/v1/audit?limit=2&cursor=WyJ4Il0"), 422, "validation-failed", "cursor");
  });
});
