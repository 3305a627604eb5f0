import type { Logger } from "pino";
import { AppError } from "../errors.js";
import type { SystemFiles } from "../system/files.js";
import type { CommandRunner } from "../system/runner.js";
import type { Supervisor } from "../system/supervisor.js";
import type { HealthFile } from "./health-file.js";
import { renderTemplate } from "./templates.js";
import type { KeepalivedView } from "./keepalived-view.js";

/**
 * Owns keepalived's configuration: renders it, has keepalived validate it (`-t`) before it replaces the
 * live file, and reloads keepalived only when the text changed — a reload is cheap but not free, and an
 * unchanged config must cost nothing. The health file the configuration tracks is in place before keepalived
 * checks it, on a fresh gateway too: keepalived 2.3 refuses a track_file that does not exist.
 */
export class KeepalivedManager {
  private applied: string | undefined;

  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
    private readonly configPath: string,
    private readonly health: Pick<HealthFile, "path" | "ensure">,
    private readonly process: { kind: "supervised"; supervisor: Supervisor } | { kind: "systemd" },
    private readonly log: Logger,
  ) {}

  render(view: KeepalivedView): string {
    return renderTemplate("keepalived.conf.hbs", view);
  }

  /** Returns whether keepalived was (re)configured. */
  async converge(view: KeepalivedView): Promise<boolean> {
    const text = this.render(view);
    if (text === this.applied) return false;
    if (view.healthFile !== this.health.path) {
      throw new AppError("internal", `keepalived's configuration tracks ${view.healthFile}, but the daemon writes its health to ${this.health.path}`);
    }
    this.health.ensure();
    const candidate = this.files.stageFile(this.configPath, text, 0o644);
    const check = await this.runner.run("keepalived", ["-t", "-f", candidate.path], { okExitCodes: [1, 2, 3, 4, 5, 6, 7] });
    if (check.exitCode !== 0) {
      throw new AppError("apply-failed", `keepalived rejected the generated configuration (exit ${check.exitCode}): ${check.stderr.trim()}`,
        { extra: { configExcerpt: text.slice(0, 4000) } });
    }
    candidate.commit();
    if (this.process.kind === "systemd") {
      // egw (an unprivileged user) manages no unit: egw-keepalived-reload.path sees the new file and reloads
      // keepalived, or starts it the first time.
    } else if (this.process.supervisor.pid === undefined) {
      this.process.supervisor.start();
    } else {
      this.process.supervisor.signal("SIGHUP");
    }
    this.log.info({ path: this.configPath, reloaded: this.applied !== undefined }, "keepalived configured");
    this.applied = text;
    return true;
  }

  async stop(): Promise<void> {
    if (this.process.kind === "supervised") await this.process.supervisor.stop();
  }
}
