import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { openApiInfo } from "../../../api/app.js";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";
import { Harness } from "./harness.js";

const run = promisify(execFile);

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
}

type Operation = { operationId?: string; responses: Record<string, { headers?: Record<string, unknown> }> };

function document(): { paths: Record<string, Record<string, Operation>>; servers?: unknown[]; info: { license?: { name: string; identifier?: string } } } {
  return new Harness().app.getOpenAPI31Document(openApiInfo) as never;
}

describe("the OpenAPI document", () => {
  it("passes `redocly lint` (recommended rules, the repository's redocly.yaml) with no error and no warning, offline", async () => {
    const dir = mkdtempSync(join(tmpdir(), "egw-openapi-"));
    try {
      const file = join(dir, "openapi.json");
      writeFileSync(file, JSON.stringify(document(), null, 2));
      const { stdout } = await run(join(PACKAGE_ROOT, "node_modules/.bin/redocly"),
        ["lint", "--format=json", `--config=${join(PACKAGE_ROOT, "redocly.yaml")}`, file], {
          cwd: dir,
          // A dead proxy keeps redocly offline; an inherited no_proxy would let it bypass that, so it is cleared.
          env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", HTTPS_PROXY: "http://127.0.0.1:9", https_proxy: "http://127.0.0.1:9", NO_PROXY: "", no_proxy: "" },
          timeout: 120_000,
        }).catch((error: { stdout?: string; message: string }) => {
        // redocly exits non-zero when it finds errors; its report is still on stdout.
        if (error.stdout) return { stdout: error.stdout };
        throw error;
      });
      const report = JSON.parse(stdout) as LintReport;
      const problems = report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ""}: ${p.message}`);
      assert.deepEqual(problems, []);
      assert.equal(report.totals.errors, 0);
      assert.equal(report.totals.warnings, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives every operation a unique operationId, and declares servers and the license", () => {
    const doc = document();
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    assert.ok(ids.length > 40, `only ${ids.length} operations`);
    assert.ok(ids.every((id) => typeof id === "string" && /^[a-z][A-Za-z]+$/.test(id)), `not camelCase: ${ids.join(", ")}`);
    assert.equal(new Set(ids).size, ids.length, "operationIds must be unique");
    assert.deepEqual(doc.info.license, { name: "Apache-2.0", identifier: "Apache-2.0" });
    assert.ok((doc.servers ?? []).length > 0);
  });

  it("describes the health and metrics endpoints and the HTTP headers automation relies on", () => {
    const { paths } = document();
    for (const path of ["/healthz", "/readyz", "/metrics"]) assert.ok(paths[path]?.get, `${path} is not described`);
    const headersOf = (path: string, method: string, status: string) => Object.keys(paths[path]?.[method]?.responses[status]?.headers ?? {});
    assert.ok(headersOf("/v1/clusters/{name}/mappings", "get", "200").includes("ETag"));
    assert.ok(headersOf("/v1/clusters/{name}/mappings", "get", "200").includes("Link"));
    assert.ok(headersOf("/v1/clusters/{name}/mappings", "post", "201").includes("Location"));
    assert.ok(headersOf("/v1/clusters/{name}/mappings", "put", "200").includes("Egw-Revision"));
    assert.ok(headersOf("/v1/clusters/{name}/mappings", "put", "200").includes("Egw-Applied-Revision"));
    assert.ok(headersOf("/v1/clusters/{name}/mappings", "put", "401").includes("WWW-Authenticate"));
    assert.ok(headersOf("/v1/clusters/{name}/mappings", "put", "503").includes("Retry-After"));
    assert.ok(headersOf("/readyz", "get", "503").includes("Retry-After"));
    // Every answer of every operation names X-Request-Id.
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses)) {
          assert.ok(Object.keys(response.headers ?? {}).includes("X-Request-Id"), `${method} ${path} ${status} has no X-Request-Id`);
        }
      }
    }
  });
});
