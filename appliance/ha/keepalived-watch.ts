import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { ProcessProbe } from "../system/process-probe.js";
import type { ChildExit, Supervisor } from "../system/supervisor.js";

export interface KeepalivedWatchOptions {
  /** keepalived's own pid file and its VRRP child's: either one gone means nobody runs VRRP here. */
  pidFiles: string[];
  intervalMs: number;
  probe: ProcessProbe;
  /** In supervised mode the child's exit is known at once, without waiting for the next poll. */
  supervisor?: Supervisor | undefined;
}

/**
 * Notices when keepalived dies. This gateway's role comes from keepalived's notifications, and a killed
 * keepalived sends none: without this watch a master whose keepalived was SIGKILLed would go on leading,
 * and keep its VIPs, while the peer (hearing no adverts) takes them too. It only reports: `lost` once
 * when keepalived stops running, `back` once it runs again (both pid files name live processes).
 */
export class KeepalivedWatch extends EventEmitter<{ lost: [reason: string]; back: [] }> {
  private state: "unseen" | "alive" | "lost" = "unseen";
  private timer: NodeJS.Timeout | undefined;
  private readonly onExit = (exit: ChildExit) => {
    if (exit.expected) return;
    const reason = `keepalived (pid ${exit.pid ?? "?"}) exited${exit.signal ? ` on ${exit.signal}` : ` with ${exit.exitCode ?? "?"}`}`;
    // After the FIFO lines it wrote before dying, which the same turn of the event loop may still deliver.
    setImmediate(() => this.lose(reason));
  };

  constructor(private readonly options: KeepalivedWatchOptions, private readonly log: Logger) {
    super();
  }

  get running(): boolean {
    return this.state === "alive";
  }

  start(): void {
    this.options.supervisor?.on("exit", this.onExit);
    this.timer = setInterval(() => this.poll(), this.options.intervalMs);
    this.timer.unref();
    this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
    this.options.supervisor?.off("exit", this.onExit);
  }

  /** One look at the pid files (runs on the timer; exposed for tests). */
  poll(): void {
    const dead = this.options.pidFiles.find((file) => this.options.probe.runningPid(file) === undefined);
    if (dead === undefined) {
      const was = this.state;
      this.state = "alive";
      if (was === "lost") {
        this.log.info("keepalived runs again; the VRRP role follows its notifications");
        this.emit("back");
      }
      return;
    }
    // Before keepalived first ran (the daemon starts it after its first apply) a missing pid file means nothing.
    if (this.state === "alive") this.lose(`${dead} names no running process`);
  }

  private lose(reason: string): void {
    if (this.state === "lost") return;
    this.state = "lost";
    this.log.error({ reason }, "keepalived is not running: this gateway stops leading and gives up its VIPs and egress IPs");
    this.emit("lost", reason);
  }
}
