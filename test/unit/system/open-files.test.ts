import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { processesHolding } from "../../../appliance/system/open-files.js";

describe("processesHolding: who has a file open (/proc/PID/fd)", { skip: process.getuid?.() === 0 ? false : "sees every process only as root" }, () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-open-files-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("finds a process holding the file, by its path or a link to it, and no longer once it has exited", async () => {
    const file = join(dir, "egw.db");
    writeFileSync(file, "");
    symlinkSync(dir, `${dir}-link`);
    const linked = join(`${dir}-link`, "egw.db");
    const fd = openSync(file, "r");
    let holder: ChildProcess | undefined;
    try {
      holder = spawn("sleep", ["600"], { stdio: [fd, "ignore", "ignore"] });
      await once(holder, "spawn");
      closeSync(fd);
      assert.deepEqual(processesHolding([file]), [{ pid: holder.pid, command: "sleep 600", path: file }]);
      assert.deepEqual(processesHolding([linked]).map((h) => h.pid), [holder.pid], "through a link to its directory");
      assert.deepEqual(processesHolding([join(dir, "other.db"), `${file}-wal`]), [], "only the files asked about");
    } finally {
      if (holder && holder.exitCode === null) {
        holder.kill("SIGKILL");
        await once(holder, "exit");
      }
      rmSync(`${dir}-link`, { force: true });
    }
    assert.deepEqual(processesHolding([file]), []);
  });
});
