import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { HealthFile } from "../../../appliance/ha/health-file.js";
import { FakeFiles } from "../../helpers/fake-files.js";

describe("HealthFile (keepalived track_file)", () => {
  const path = "/run/egw/health";
  let files: FakeFiles;
  let health: HealthFile;
  const content = () => files.text(path);

  beforeEach(() => {
    files = new FakeFiles();
    health = new HealthFile(files, path);
  });

  it("writes 0 on init, replacing whatever was there, readable by keepalived", () => {
    files.files.set(path, { content: "1\n", mode: 0o600 });
    health.init();
    assert.deepEqual(files.files.get(path), { content: "0\n", mode: 0o644 });
    assert.deepEqual(health.failing(), []);
  });

  it("does not create the file before init", () => {
    assert.equal(files.files.has(path), false);
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

  it("ensure writes the file when there is none (a fresh gateway), as the gateway is judged now", () => {
    health.ensure();
    assert.deepEqual(files.files.get(path), { content: "0\n", mode: 0o644 });
    files.removeFile(path);
    health.set("handover", true);
    health.ensure();
    assert.equal(content(), "1\n");
  });

  it("ensure leaves a file that is there as it is", () => {
    files.files.set(path, { content: "1\n", mode: 0o644 });
    health.ensure();
    assert.equal(content(), "1\n");
  });
});
