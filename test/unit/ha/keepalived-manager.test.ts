import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { configSchema } from "../../../appliance/config/schema.js";
import { AppError } from "../../../appliance/errors.js";
import { HealthFile } from "../../../appliance/ha/health-file.js";
import { keepalivedView, type KeepalivedView } from "../../../appliance/ha/keepalived-view.js";
import { KeepalivedManager } from "../../../appliance/ha/keepalived.js";
import { renderTemplate } from "../../../appliance/ha/templates.js";
import type { CommandResult, RunOptions } from "../../../appliance/system/runner.js";
import { accepts, CommandError } from "../../../appliance/system/runner.js";
import { FakeSystem } from "../../helpers/fake-system.js";

const cfg = configSchema.parse({
  gateway: { name: "gw-a" },
  api: { adminTokenFile: "/etc/egw/admin-token" },
  database: { path: "/var/lib/egw/egw.db" },
  network: { inside: { interface: "inside" }, outside: { interface: "outside" } },
  ha: {
    insideVips: ["172.31.0.1/24"],
    syncLink: { interface: "sync", address: "10.255.0.1" },
    peer: { name: "gw-b", address: "10.255.0.2" },
    tls: { cert: "/etc/egw/peer/gw-a.crt", key: "/etc/egw/peer/gw-a.key", peerCertificates: "/etc/egw/peer/trusted.pem" },
  },
});
const view = (egressIps: string[]): KeepalivedView => keepalivedView(cfg, cfg.ha!, egressIps, { notifyFifo: "/run/egw/keepalived.fifo", healthFile: "/run/egw/health" });

interface Observed {
  command: string;
  args: string[];
  /** What the file named by `-f` held when keepalived was asked to check it. */
  checked?: string;
  /** What the live config held when systemctl was called. */
  live?: string | null;
  /** What the health file the checked file tracks held when keepalived checked it (null: there was none). */
  health?: string | null;
}

/**
 * FakeSystem with answers for `keepalived -t` (exit code chosen by the test) and `systemctl`, observing the
 * files at the moment each command runs. Its keepalived checks as 2.3 does: a track_file that does not exist is
 * refused (exit 5), as Debian 13's keepalived 2.3.3 does.
 */
class KeepalivedSystem extends FakeSystem {
  verdict = 0;
  systemctlFails = false;
  observed: Observed[] = [];

  constructor(private readonly configPath: string) {
    super();
  }

  override async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    if (command !== "keepalived" && command !== "systemctl") return super.run(command, args, options);
    this.calls.push({ command, args: [...args] });
    const observed: Observed = { command, args: [...args] };
    let result: CommandResult = { stdout: "", stderr: "", exitCode: 0 };
    if (command === "keepalived") {
      const file = args[args.indexOf("-f") + 1] as string;
      observed.checked = this.files.text(file);
      const tracked = /^track_file egw_health \{\n {2}file (\S+)\n/m.exec(observed.checked ?? "")?.[1];
      observed.health = tracked === undefined ? undefined : this.files.text(tracked) ?? null;
      if (this.verdict !== 0) result = { stdout: "", stderr: "(candidate: Line 3) Unknown keyword 'bogus'\n", exitCode: this.verdict };
      else if (observed.health === null) result = { stdout: "", stderr: `(${file}: Line 17) realpath() error 2 (No such file or directory) for egw_health\n`, exitCode: 5 };
    } else {
      observed.live = this.files.text(this.configPath) ?? null;
      if (this.systemctlFails) result = { stdout: "", stderr: "Job for keepalived.service failed.", exitCode: 1 };
    }
    this.observed.push(observed);
    if (!accepts(options, result.exitCode)) throw new CommandError(command, args, result.exitCode, result.stderr);
    return result;
  }
}

describe("KeepalivedManager (systemd mode, fake runner)", () => {
  const configPath = "/run/egw/keepalived.conf";
  let system: KeepalivedSystem;
  const healthPath = "/run/egw/health";
  let health: HealthFile;
  let manager: KeepalivedManager;
  const live = () => system.files.text(configPath);

  beforeEach(() => {
    system = new KeepalivedSystem(configPath);
    health = new HealthFile(system.files, healthPath);
    health.init();
    manager = new KeepalivedManager(system, system.files, configPath, health, { kind: "systemd" }, pino({ enabled: false }));
  });

  it("first converge validates a candidate file and renames it into place; it never asks systemd itself (egw manages no unit)", async () => {
    const text = renderTemplate("keepalived.conf.hbs", view(["203.0.113.10"]));
    assert.equal(await manager.converge(view(["203.0.113.10"])), true);
    assert.deepEqual(system.observed, [
      { command: "keepalived", args: ["-t", "-f", `${configPath}.new`], checked: text, health: "0\n" },
    ], "keepalived checked the candidate (not the live file); egw-keepalived-reload.path reloads keepalived when the file changes");
    assert.ok(!system.calls.some((c) => c.command === "systemctl"), "no systemctl call");
    assert.equal(live(), text);
    assert.equal(system.files.files.has(`${configPath}.new`), false, "the candidate was renamed, not copied");
    assert.equal(system.files.files.get(configPath)?.mode, 0o644);
  });

  it("a second converge with the same view makes no calls at all", async () => {
    await manager.converge(view(["203.0.113.10"]));
    const calls = system.calls.length;
    assert.equal(await manager.converge(view(["203.0.113.10"])), false);
    assert.equal(system.calls.length, calls);
  });

  it("a changed view is validated and written again", async () => {
    await manager.converge(view(["203.0.113.10"]));
    system.observed.length = 0;
    const text = renderTemplate("keepalived.conf.hbs", view(["203.0.113.10", "2001:db8::10"]));
    assert.equal(await manager.converge(view(["203.0.113.10", "2001:db8::10"])), true);
    assert.deepEqual(system.observed.map((o) => o.command), ["keepalived"]);
    assert.equal(system.observed[0]?.checked, text);
    assert.equal(live(), text);
  });

  it("a candidate keepalived rejects throws apply-failed, leaves the live file unchanged and does not reload", async () => {
    await manager.converge(view(["203.0.113.10"]));
    const before = live();
    system.observed.length = 0;
    system.verdict = 5;
    await assert.rejects(manager.converge(view(["203.0.113.10", "203.0.113.11"])), (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, "apply-failed");
      assert.match(error.message, /exit 5/);
      assert.match(error.message, /Unknown keyword 'bogus'/);
      return true;
    });
    assert.equal(live(), before);
    assert.deepEqual(system.observed.map((o) => o.command), ["keepalived"]);

    // Once keepalived accepts it, the same view is applied (the rejection was not remembered as applied).
    system.verdict = 0;
    assert.equal(await manager.converge(view(["203.0.113.10", "203.0.113.11"])), true);
    assert.match(live() ?? "", /203\.0\.113\.11\/32 dev outside/);
  });

  it("a rejected first candidate leaves no live file", async () => {
    system.verdict = 1;
    await assert.rejects(manager.converge(view([])), (error: unknown) => error instanceof AppError && error.code === "apply-failed");
    assert.equal(live(), undefined);
    assert.deepEqual(system.calls.map((c) => c.command), ["keepalived"]);
  });

  it("on a fresh gateway, before any health file exists, writes a healthy one before keepalived checks the first configuration", async () => {
    system.files.removeFile(healthPath);
    const text = renderTemplate("keepalived.conf.hbs", view(["203.0.113.10"]));
    assert.equal(await manager.converge(view(["203.0.113.10"])), true);
    assert.deepEqual(system.observed, [{ command: "keepalived", args: ["-t", "-f", `${configPath}.new`], checked: text, health: "0\n" }],
      "the health file existed when keepalived checked the configuration that tracks it");
    assert.equal(live(), text);
    assert.deepEqual(system.files.files.get(healthPath), { content: "0\n", mode: 0o644 });
  });

  it("a health file removed since is written again before the next check, as the daemon last judged the gateway (failing stays failing)", async () => {
    await manager.converge(view(["203.0.113.10"]));
    health.set("data plane apply failing", true);
    system.files.removeFile(healthPath);
    system.observed.length = 0;
    assert.equal(await manager.converge(view(["203.0.113.10", "203.0.113.11"])), true);
    assert.deepEqual(system.observed.map((o) => o.health), ["1\n"]);
  });

  it("refuses a view that tracks another file than the one the daemon writes its health to, before anything is checked or written", async () => {
    const other = keepalivedView(cfg, cfg.ha!, [], { notifyFifo: "/run/egw/keepalived.fifo", healthFile: "/elsewhere/health" });
    await assert.rejects(manager.converge(other), (error: unknown) => error instanceof AppError && error.code === "internal" && /\/elsewhere\/health/.test(error.message));
    assert.deepEqual(system.calls, []);
    assert.equal(live(), undefined);
  });
});
