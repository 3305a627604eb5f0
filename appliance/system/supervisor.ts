import { EventEmitter } from "node:events";
import { execa, type ResultPromise } from "execa";
import type { Logger } from "pino";
import { forEachLine, stopChild } from "./child.js";
import { commandEnvironment } from "./search-path.js";

export interface SupervisedSpec {
  name: string;
  command: string;
  args: string[];
  /** Runs before each restart after an exit (not before start()): e.g. clearing what the dead child left behind. */
  beforeRestart?: () => Promise<void>;
}

export interface ChildExit {
  pid: number | undefined;
  exitCode: number | undefined;
  signal: string | undefined;
  /** Whether stop() asked for it; an unexpected exit is what a watchdog reacts to. */
  expected: boolean;
}

/**
 * Keeps one child process running (keepalived or conntrackd in supervised mode): restarts it with
 * backoff when it exits, forwards its output to our log, and stops it on request. Like the command
 * runner, it takes argument arrays only. It reports each start and exit, so that whoever depends on the
 * child (the keepalived watch) learns of its death at once.
 */
export class Supervisor extends EventEmitter<{ spawn: [pid: number | undefined]; exit: [exit: ChildExit] }> {
  private child: ResultPromise | undefined;
  private stopping = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly spec: SupervisedSpec, private readonly log: Logger) {
    super();
  }

  start(): void {
    this.stopping = false;
    this.spawn();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Sends a signal (SIGHUP makes keepalived re-read its config). */
  signal(signal: NodeJS.Signals): boolean {
    return this.child?.kill(signal) ?? false;
  }

  async stop(graceMs = 3_000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    await stopChild(child, graceMs);
    this.child = undefined;
  }

  private async restart(): Promise<void> {
    await this.spec.beforeRestart?.().catch((error: unknown) => this.log.warn({ process: this.spec.name, err: error }, "preparing the restart failed; restarting anyway"));
    if (!this.stopping) this.spawn();
  }

  private spawn(): void {
    const { name, command, args } = this.spec;
    const child = execa(command, args, {
      reject: false, buffer: false, all: true, stdin: "ignore",
      env: commandEnvironment(),
    });
    this.child = child;
    this.log.info({ process: name, pid: child.pid, args }, "started");
    this.emit("spawn", child.pid);
    forEachLine(child.all, (line) => this.log.info({ process: name }, line));
    void child.then((result) => {
      if (this.child === child) this.child = undefined;
      this.emit("exit", { pid: child.pid, exitCode: result.exitCode, signal: result.signal, expected: this.stopping });
      if (this.stopping) return;
      this.restarts++;
      const delay = Math.min(500 * 2 ** Math.min(this.restarts - 1, 5), 15_000);
      this.log.error({ process: name, exitCode: result.exitCode, signal: result.signal, restartInMs: delay }, "exited; restarting");
      this.restartTimer = setTimeout(() => void this.restart(), delay);
      this.restartTimer.unref();
    });
  }
}
