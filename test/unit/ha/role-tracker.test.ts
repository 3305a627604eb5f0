import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs, { closeSync, constants, existsSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { RoleTracker, type VrrpRole } from "../../../appliance/ha/role-tracker.js";

const quiet = pino({ enabled: false });

function tracker(path = "/nonexistent/fifo") {
  const t = new RoleTracker(path, "egw_inside", quiet);
  const events: [VrrpRole, VrrpRole][] = [];
  t.on("role", (role, previous) => events.push([role, previous]));
  return { t, events };
}

describe("RoleTracker.handle", () => {
  it("starts unknown, becomes master on the inside instance's MASTER line and emits (role, previous)", () => {
    const { t, events } = tracker();
    assert.equal(t.role, "unknown");
    const since = t.since;
    t.handle('INSTANCE "egw_inside" MASTER 150');
    assert.equal(t.role, "master");
    assert.deepEqual(events, [["master", "unknown"]]);
    assert.ok(t.since >= since);
  });

  it("follows BACKUP and FAULT, and STOP as unknown", () => {
    const { t, events } = tracker();
    t.handle('INSTANCE "egw_inside" BACKUP 100');
    t.handle('INSTANCE "egw_inside" MASTER 100');
    t.handle('INSTANCE "egw_inside" FAULT 0');
    t.handle('INSTANCE "egw_inside" BACKUP 100');
    t.handle('INSTANCE "egw_inside" STOP 100');
    assert.deepEqual(events, [["backup", "unknown"], ["master", "backup"], ["fault", "master"], ["backup", "fault"], ["unknown", "backup"]]);
    assert.equal(t.role, "unknown");
  });

  it("ignores GROUP lines and other instances", () => {
    const { t, events } = tracker();
    t.handle('GROUP "egw" MASTER');
    t.handle('GROUP "egw_inside" MASTER');
    t.handle('INSTANCE "egw_outside" MASTER 150');
    t.handle('INSTANCE "egw_inside2" MASTER 150');
    t.handle('INSTANCE "egw" FAULT 0');
    assert.equal(t.role, "unknown");
    assert.deepEqual(events, []);
  });

  it("emits nothing for a repeated state", () => {
    const { t, events } = tracker();
    t.handle('INSTANCE "egw_inside" MASTER 150');
    t.handle('INSTANCE "egw_inside" MASTER 150');
    t.handle('INSTANCE "egw_inside" MASTER 100');
    assert.deepEqual(events, [["master", "unknown"]]);
  });

  it("ignores garbage", () => {
    const { t, events } = tracker();
    for (const line of [
      "", "garbage", "INSTANCE egw_inside MASTER 150", 'INSTANCE "egw_inside" MASTERFUL 150', 'INSTANCE "egw_inside" master 150',
      'instance "egw_inside" MASTER 150', 'XINSTANCE "egw_inside" MASTER 150', '"egw_inside" MASTER', 'INSTANCE "egw_inside"',
    ]) t.handle(line);
    assert.equal(t.role, "unknown");
    assert.deepEqual(events, []);
  });
});

describe("RoleTracker on a real FIFO", () => {
  let dir: string;
  let fifo: string;
  let t: RoleTracker;
  let events: [VrrpRole, VrrpRole][];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-role-tracker-"));
    fifo = join(dir, "keepalived.fifo");
    execFileSync("mkfifo", ["-m", "600", fifo]);
    ({ t, events } = tracker(fifo));
  });

  afterEach(() => {
    t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Like keepalived: open for writing, write, close. */
  const writeOnce = (text: string) => {
    const fd = openSync(fifo, constants.O_WRONLY);
    writeSync(fd, text);
    closeSync(fd);
  };
  const until = async (condition: () => boolean, what: string) => {
    const deadline = Date.now() + 2_000;
    while (!condition()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`);
      await sleep(5);
    }
  };

  it("reads notifications, survives the writer closing and reopening, and joins lines split across writes", async () => {
    t.start();
    writeOnce('GROUP "egw" MASTER\nINSTANCE "egw_inside" MASTER 150\n');
    await until(() => t.role === "master", "master");

    // keepalived restarted: a new writer.
    writeOnce('INSTANCE "egw_inside" BACKUP 100\n');
    await until(() => t.role === "backup", "backup after the first writer closed");

    // A line split across two writes (and two writers).
    writeOnce('INSTANCE "egw_in');
    await sleep(30);
    assert.equal(t.role, "backup", "half a line does nothing yet");
    writeOnce('side" FAULT 0\n');
    await until(() => t.role === "fault", "fault from a line split across writes");
    assert.deepEqual(events, [["master", "unknown"], ["backup", "master"], ["fault", "backup"]]);
  });

  it("start() does not wait for a writer, and stop() closes the reading end", async () => {
    t.start();
    t.stop();
    // No reader any more: a non-blocking open for writing fails with ENXIO.
    assert.throws(() => openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK), (error: NodeJS.ErrnoException) => error.code === "ENXIO");
  });

  it("stop() closes the FIFO's descriptor exactly once (never closes a descriptor number it no longer owns)", () => {
    t.start();
    const original = fs.closeSync;
    const closedAlready: number[] = [];
    fs.closeSync = (fd: number) => {
      if (!existsSync(`/proc/self/fd/${fd}`)) closedAlready.push(fd);
      return original(fd);
    };
    syncBuiltinESMExports();
    try {
      t.stop();
    } finally {
      fs.closeSync = original;
      syncBuiltinESMExports();
    }
    assert.deepEqual(closedAlready, [],
      "closeSync was called on a descriptor socket.destroy() had already closed: in a process with other threads (libuv's pool) that number may already belong to another file");
  });
});
