import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { ConntrackdManager } from "../../../appliance/ha/conntrackd.js";
import { HostFiles } from "../../../appliance/system/files.js";
import { ExecaRunner, type CommandResult, type CommandRunner } from "../../../appliance/system/runner.js";
import { Supervisor } from "../../../appliance/system/supervisor.js";
import { until } from "../../helpers/until.js";

/** conntrackd's client as the manager sees it: `-s` answers when a conntrackd listens on the control socket. */
class Conntrackd implements CommandRunner {
  running = false;
  readonly calls: string[] = [];
  async run(command: string, args: readonly string[]): Promise<CommandResult> {
    this.calls.push(`${command} ${args.join(" ")}`);
    return this.running ? { stdout: "cache internal:\n", stderr: "", exitCode: 0 } : { stdout: "", stderr: "can't connect: is conntrackd running?", exitCode: 1 };
  }
}

describe("ConntrackdManager: the lock file a killed conntrackd leaves", () => {
  const dir = mkdtempSync(join(tmpdir(), "egw-conntrackd-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const lockFile = join(dir, "conntrackd.lock");
  const manager = (runner: CommandRunner) => new ConntrackdManager(runner, new HostFiles(new ExecaRunner()), join(dir, "conntrackd.conf"), {
    generatedFor: "gw-a", interface: "sync", localAddress: "10.255.0.1", peerAddress: "10.255.0.2", port: 3780, systemd: true,
    logFile: join(dir, "conntrackd.log"), lockFile, controlSocket: join(dir, "conntrackd.ctl"),
  }, { kind: "systemd" }, pino({ enabled: false }));

  it("removes a lock no conntrackd answers for: the next conntrackd would refuse to start", async () => {
    writeFileSync(lockFile, "");
    const conntrackd = new Conntrackd();
    await manager(conntrackd).clearStaleLock();
    assert.equal(existsSync(lockFile), false);
    assert.deepEqual(conntrackd.calls, [`conntrackd -C ${join(dir, "conntrackd.conf")} -s`]);
  });

  it("keeps the lock of a conntrackd that answers on its socket", async () => {
    writeFileSync(lockFile, "");
    const conntrackd = new Conntrackd();
    conntrackd.running = true;
    await manager(conntrackd).clearStaleLock();
    assert.equal(existsSync(lockFile), true);
  });

  it("keeps the lock, and does not throw, when the question itself fails (a wedged conntrackd times out)", async () => {
    writeFileSync(lockFile, "");
    const timesOut: CommandRunner = { run: () => Promise.reject(new Error("Command timed out after 5000 milliseconds")) };
    await manager(timesOut).clearStaleLock();
    assert.equal(existsSync(lockFile), true);
  });

  it("asks nothing when there is no lock", async () => {
    rmSync(lockFile, { force: true });
    const conntrackd = new Conntrackd();
    await manager(conntrackd).clearStaleLock();
    assert.deepEqual(conntrackd.calls, []);
  });
});

describe("Supervisor: beforeRestart", () => {
  it("runs before each restart of a child that exited, not before the first start", async () => {
    const events: string[] = [];
    const supervisor = new Supervisor({
      name: "short-lived", command: process.execPath, args: ["-e", ""],
      beforeRestart: async () => { events.push("prepare"); },
    }, pino({ enabled: false }));
    supervisor.on("spawn", () => events.push("spawn"));
    supervisor.start();
    try {
      await until(() => events.filter((e) => e === "spawn").length >= 2, "a restart", 10_000);
      assert.deepEqual(events.slice(0, 3), ["spawn", "prepare", "spawn"]);
    } finally {
      await supervisor.stop();
    }
  });
});
