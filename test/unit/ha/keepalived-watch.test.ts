import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { pino } from "pino";
import { KeepalivedWatch } from "../../../appliance/ha/keepalived-watch.js";
import type { ProcessProbe } from "../../../appliance/system/process-probe.js";
import type { ChildExit, Supervisor } from "../../../appliance/system/supervisor.js";

const quiet = pino({ enabled: false });

/** Pid files whose processes the test starts and kills. */
class FakeProcesses implements ProcessProbe {
  running = new Map<string, number>();
  runningPid(pidFile: string): number | undefined {
    return this.running.get(pidFile);
  }
  start(): void {
    this.running.set("/run/keepalived.pid", 100);
    this.running.set("/run/vrrp.pid", 101);
  }
}

function watch(processes: FakeProcesses, supervisor?: Supervisor) {
  const w = new KeepalivedWatch({ pidFiles: ["/run/keepalived.pid", "/run/vrrp.pid"], intervalMs: 60_000, probe: processes, supervisor }, quiet);
  const events: string[] = [];
  w.on("lost", (reason) => events.push(`lost: ${reason}`));
  w.on("back", () => events.push("back"));
  return { w, events };
}

describe("KeepalivedWatch", () => {
  it("says nothing before keepalived first ran (the daemon starts it after its first apply)", () => {
    const processes = new FakeProcesses();
    const { w, events } = watch(processes);
    w.poll();
    w.poll();
    assert.deepEqual(events, []);
    assert.equal(w.running, false);
  });

  it("reports the loss once when a pid file's process dies (the VRRP child alone counts), and the return once", () => {
    const processes = new FakeProcesses();
    const { w, events } = watch(processes);
    processes.start();
    w.poll();
    assert.equal(w.running, true);
    processes.running.delete("/run/vrrp.pid");
    w.poll();
    w.poll();
    assert.deepEqual(events, ["lost: /run/vrrp.pid names no running process"]);
    assert.equal(w.running, false);
    processes.start();
    w.poll();
    w.poll();
    assert.deepEqual(events, ["lost: /run/vrrp.pid names no running process", "back"]);
  });

  it("reports an unexpected exit of the supervised keepalived at once, without waiting for a poll; a requested stop is no loss", async () => {
    const processes = new FakeProcesses();
    const supervisor = new EventEmitter() as unknown as Supervisor;
    const { w, events } = watch(processes, supervisor);
    processes.start();
    w.start();
    const exit = (info: Partial<ChildExit>) => (supervisor as unknown as EventEmitter).emit("exit", { pid: 100, exitCode: undefined, signal: undefined, expected: false, ...info });
    exit({ expected: true });
    await nextTurn();
    assert.deepEqual(events, []);
    exit({ signal: "SIGKILL" });
    await nextTurn();
    assert.deepEqual(events, ["lost: keepalived (pid 100) exited on SIGKILL"]);
    w.stop();
  });
});
