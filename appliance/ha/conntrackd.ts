import type { Logger } from "pino";
import type { SystemFiles } from "../system/files.js";
import type { CommandRunner } from "../system/runner.js";
import type { Supervisor } from "../system/supervisor.js";
import { renderTemplate } from "./templates.js";
import type { VrrpRole } from "./role-tracker.js";

export interface ConntrackdView {
  generatedFor: string;
  interface: string;
  localAddress: string;
  peerAddress: string;
  port: number;
  systemd: boolean;
  logFile: string;
  lockFile: string;
  controlSocket: string;
}

/**
 * conntrackd in FTFW mode with the external cache disabled: states from the peer are written straight
 * into this gateway's kernel as they arrive, so a backup already knows every NAT binding when it becomes
 * master and no commit step can race the VIPs coming up (a VIP answering before its state is in the kernel
 * would reset connections).
 */
export class ConntrackdManager {
  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
    private readonly configPath: string,
    private readonly view: ConntrackdView,
    private readonly process: { kind: "supervised"; supervisor: Supervisor } | { kind: "systemd" },
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const text = renderTemplate("conntrackd.conf.hbs", this.view);
    if (this.process.kind === "supervised") {
      this.files.writeFile(this.configPath, text, 0o644);
      await this.clearStaleLock();
      this.process.supervisor.start();
      return;
    }
    // With systemd, egw-conntrackd-reload.path sees a rewritten file and restarts conntrackd (egw manages no unit).
    // A daemon restarting beside a running conntrackd leaves an unchanged file alone: a conntrackd restart would
    // stop the state sync to the peer for a moment, for nothing.
    if (this.files.readText(this.configPath) !== text) this.files.writeFile(this.configPath, text, 0o644);
  }

  /**
   * conntrackd creates its lock file exclusively and removes it only when it exits cleanly: one that was killed (a
   * gateway whose processes all died while its run directory survived, a crash, the OOM killer) leaves it behind,
   * and every conntrackd started after it refuses to run ("lockfile exists, perhaps conntrackd already running?").
   * The gateway then syncs no connection state at all: keepalived still makes it master, and every connection it
   * opens as master is unknown to its peer, which resets it when it takes over. The lock is stale when no conntrackd
   * answers on the control socket; one that answers (left running by an earlier daemon) keeps its lock.
   * Called before the first start and before every restart of a supervised conntrackd.
   */
  async clearStaleLock(): Promise<void> {
    const { lockFile } = this.view;
    if (!this.files.exists(lockFile)) return;
    // When unsure (the question timed out, conntrackd answered oddly) the lock stays: never start a second one.
    const asked = await this.runner.run("conntrackd", ["-C", this.configPath, "-s"], { okExitCodes: [1], timeoutMs: 5_000 }).catch((error: unknown) => {
      this.log.warn({ err: error, lockFile }, "could not ask conntrackd whether it runs; its lock file stays");
      return undefined;
    });
    if (asked === undefined || asked.exitCode === 0) return;
    this.files.removeFile(lockFile);
    this.log.warn({ lockFile }, "removed the lock file of a conntrackd that was killed; no conntrackd answers on its socket");
  }

  /** A gateway that becomes backup asks the new master for its full state, so it can take over again later. */
  async onRole(role: VrrpRole): Promise<void> {
    if (role !== "backup") return;
    await this.runner.run("conntrackd", ["-C", this.configPath, "-n"]).catch((error: unknown) => {
      this.log.warn({ err: error }, "conntrackd resync request failed; the peer's state will arrive with its next updates");
    });
  }

  async stop(): Promise<void> {
    if (this.process.kind === "supervised") await this.process.supervisor.stop();
  }
}
