import type { ChildExit, SupervisedSpec } from "../system/supervisor.js";
import type { GapKeeper } from "./gaps.js";

/** What this needs of appliance/system/supervisor.ts's Supervisor (a fake in unit tests). */
export interface UlogdProcess {
  start(): void;
  stop(): Promise<void>;
  signal(signal: NodeJS.Signals): boolean;
  on(event: "spawn", listener: (pid: number | undefined) => void): unknown;
  on(event: "exit", listener: (exit: ChildExit) => void): unknown;
}

/** ulogd as the daemon's child: `ulogd -c CONF`, argument array only, its own log on stdout (see ulogd-config.ts). */
export function ulogdSpec(command: string, configPath: string): SupervisedSpec {
  return { name: "ulogd", command, args: ["-c", configPath] };
}

/**
 * Keeps the log's "not-running" gap in step with ulogd: open from start() (covering a daemon that was down) until
 * ulogd is spawned, and again from each exit until the supervisor's restart. (Between the spawn and ulogd's netlink
 * subscription a few milliseconds stay uncovered; a connection that starts then is still recorded at its destroy.)
 */
export class UlogdSupervision {
  constructor(private readonly process: UlogdProcess, private readonly gaps: GapKeeper, private readonly clock: () => number) {
    process.on("spawn", () => this.gaps.clear("not-running", this.clock()));
    process.on("exit", () => this.gaps.raise("not-running", this.clock()));
  }

  start(): void {
    this.gaps.raise("not-running", this.clock());
    this.process.start();
  }

  async stop(): Promise<void> {
    await this.process.stop();
    this.gaps.raise("not-running", this.clock());
  }

  signal(signal: NodeJS.Signals): boolean {
    return this.process.signal(signal);
  }
}
