import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { main } from "../../../appliance/cli/main.js";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";
import { statusView } from "../../../appliance/status-view.js";
import { egwVersion } from "../../../appliance/version.js";
import { captureIo } from "./fake-api.js";

const packageVersion = (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;

describe("egw --version", () => {
  for (const argv of [["--version"], ["version"]]) {
    it(`egw ${argv.join(" ")} prints package.json's version and the replication protocol versions`, async () => {
      const io = captureIo();
      assert.equal(await main(argv, io), 0);
      assert.equal(io.out(), `egw ${packageVersion} (replication protocol 2, interoperates with 1-2)\n`);
    });
  }

  it("is read at run time from the package.json installed beside dist/, so a package build can stamp it", () => {
    const root = mkdtempSync(join(tmpdir(), "egw-version-"));
    try {
      cpSync(join(PACKAGE_ROOT, "dist"), join(root, "dist"), { recursive: true });
      symlinkSync(join(PACKAGE_ROOT, "node_modules"), join(root, "node_modules"));
      writeFileSync(join(root, "package.json"), JSON.stringify({ name: "egress-gateway", version: "9.8.7-stamped.1", type: "module" }));
      const run = spawnSync(process.execPath, [join(root, "dist", "bin", "egw.js"), "--version"], { encoding: "utf8" });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^egw 9\.8\.7-stamped\.1 \(/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("is what /v1/status reports as `version`", () => {
    assert.equal(egwVersion(), packageVersion);
    const status = statusView({
      gateway: "gw-a", revision: () => 0, appliedRevision: () => 0, lastApply: () => undefined, applied: () => false,
      ha: undefined, warnings: () => [], storageProblem: () => undefined,
    })();
    assert.equal(status.version, packageVersion);
    assert.equal(status.replicationProtocol, undefined, "a single gateway replicates nothing");
  });
});
