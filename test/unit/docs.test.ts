import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { renderConfigReference } from "../../appliance/cli/config-reference.js";
import { renderOpenApi } from "../../appliance/cli/openapi.js";
import { loadConfig } from "../../appliance/config/load.js";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

/** The references are generated from the schemas the code validates with; a stale copy fails here. */
describe("generated documentation is up to date", () => {
  it("docs/api.md equals `egw openapi --format markdown` (regenerate with npm run docs:api)", () => {
    assert.equal(readFileSync(join(PACKAGE_ROOT, "docs", "api.md"), "utf8"), renderOpenApi("markdown"));
  });

  it("docs/config.md equals `egw config-reference` (regenerate with npm run docs:config)", () => {
    assert.equal(readFileSync(join(PACKAGE_ROOT, "docs", "config.md"), "utf8"), renderConfigReference());
  });

  it("the OpenAPI document covers every resource of the brief", () => {
    const doc = JSON.parse(renderOpenApi("json")) as { paths: Record<string, unknown> };
    for (const path of ["/v1/egress-ips", "/v1/clusters", "/v1/clusters/{name}/tokens", "/v1/clusters/{name}/mappings",
      "/v1/clusters/{name}/routes", "/v1/clusters/{name}/status", "/v1/status", "/v1/ha/handover"]) {
      assert.ok(doc.paths[path], `missing ${path}`);
    }
  });
});

describe("the example configuration", () => {
  it("docs/examples/egw.yaml is a valid config that serves no plain HTTP on the network", () => {
    const config = loadConfig(join(PACKAGE_ROOT, "docs", "examples", "egw.yaml"));
    const tcp = config.api.listen.filter((listen) => !listen.startsWith("unix:"));
    assert.ok(tcp.length > 0, "it shows a listener for cluster automation");
    assert.ok(config.api.tls, "with TLS");
    assert.equal(config.api.allowPlainHttp, false);
  });
});

describe("docs/security.md", () => {
  it("names only tests and files that exist: each guard it lists points at its proof", () => {
    const text = readFileSync(join(PACKAGE_ROOT, "docs", "security.md"), "utf8");
    const named = [...new Set(text.match(/(?:test|appliance|templates|scripts)\/[A-Za-z0-9_./-]*[A-Za-z0-9_/]/g) ?? [])];
    assert.ok(named.length > 10, `it names its proofs (${named.length})`);
    const missing = named.filter((path) => !existsSync(join(PACKAGE_ROOT, path)));
    assert.deepEqual(missing, []);
  });
});
