import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { HealthFile } from "../../../appliance/ha/health-file.js";

describe("HealthFile (keepalived track_file)", () => {
  let dir: string;
  let path: string;
  let health: HealthFile;
  const content = () => readFileSync(path, "utf8");

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-health-file-"));
    path = join(dir, "health");
    health = new HealthFile(path);
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes 0 on init, replacing whatever was there", () => {
    writeFileSync(path, "1\n");
    health.init();
    assert.equal(content(), "0\n");
    assert.deepEqual(health.failing(), []);
  });

  it("does not create the file before init", () => {
    assert.equal(existsSync(path), false);
  });

  it("writes 1 as soon as one reason fails", () => {
    health.init();
    health.set("data plane apply failing", true);
    assert.equal(content(), "1\n");
    assert.deepEqual(health.failing(), ["data plane apply failing"]);
  });

  it("goes back to 0 only when every reason has cleared", () => {
    health.init();
    health.set("a", true);
    health.set("b", true);
    assert.equal(content(), "1\n");
    health.set("a", false);
    assert.equal(content(), "1\n", "b still fails");
    assert.deepEqual(health.failing(), ["b"]);
    health.set("a", false);
    assert.equal(content(), "1\n", "clearing a twice does not clear b");
    health.set("b", false);
    assert.equal(content(), "0\n");
    assert.deepEqual(health.failing(), []);
  });

  it("counts a reason once however often it is set", () => {
    health.init();
    health.set("a", true);
    health.set("a", true);
    health.set("a", false);
    assert.equal(content(), "0\n");
  });

  it("clearing an unknown reason keeps 0", () => {
    health.init();
    health.set("never set", false);
    assert.equal(content(), "0\n");
  });

  it("a reason set before init is written by init", () => {
    health.set("handover", true);
    health.init();
    assert.equal(content(), "1\n");
  });
});
