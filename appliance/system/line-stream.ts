import { execa, type ResultPromise } from "execa";
import type { Logger } from "pino";
import { forEachLine, stopChild } from "./child.js";
import { commandEnvironment } from "./search-path.js";

export interface LineStreamSpec {
  /** For logs: which stream this is. */
  name: string;
  command: string;
  args: readonly string[];
}

export interface LineHandlers {
  /** One line of the command's standard output, without the newline. */
  onLine(line: string): void;
  /** After every (re)start: whatever happened while no process was listening was missed. */
  onStart?(): void;
}

export interface LineStream {
  /** Stops the command and any restart; resolves once the process is gone. */
  stop(): Promise<void>;
}

/**
 * Long-running commands whose output is a stream of events (`nft monitor`, `ip monitor`), the second
 * doorway to the operating system beside the CommandRunner: unit tests substitute a fake that emits the
 * lines itself. Arguments are arrays; nothing builds a shell string.
 */
export interface LineStreams {
  open(spec: LineStreamSpec, handlers: LineHandlers): LineStream;
}

export class ExecaLineStreams implements LineStreams {
  constructor(private readonly log: Logger) {}

  open(spec: LineStreamSpec, handlers: LineHandlers): LineStream {
    const stream = new RestartingLineStream(spec, handlers, this.log.child({ stream: spec.name }));
    stream.start();
    return stream;
  }
}

/** Restarts the command with backoff whenever it exits (a monitor that dies must not go unnoticed). */
class RestartingLineStream implements LineStream {
  private child: ResultPromise<{ buffer: false; reject: false; stdin: "ignore" }> | undefined;
  private stopping = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly spec: LineStreamSpec, private readonly handlers: LineHandlers, private readonly log: Logger) {}

  start(): void {
    const child = execa(this.spec.command, [...this.spec.args], {
      buffer: false, reject: false, stdin: "ignore",
      env: commandEnvironment(),
    });
    this.child = child;
    this.log.debug({ pid: child.pid, command: this.spec.command, args: this.spec.args }, "stream started");
    forEachLine(child.stdout, (line) => {
      this.restarts = 0;
      this.guarded(() => this.handlers.onLine(line));
    });
    forEachLine(child.stderr, (line) => this.log.warn({ stderr: line }, "stream command wrote to stderr"));
    this.guarded(() => this.handlers.onStart?.());
    void child.then((result) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      this.restarts++;
      const delay = Math.min(200 * 2 ** Math.min(this.restarts - 1, 6), 10_000);
      this.log.error({ exitCode: result.exitCode, signal: result.signal, restartInMs: delay }, "stream command exited; restarting");
      this.restartTimer = setTimeout(() => this.start(), delay);
      this.restartTimer.unref();
    });
  }

  /** A failing handler is logged: it must neither kill the daemon nor stop the stream. */
  private guarded(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.log.error({ err: error }, "stream handler failed");
    }
  }

  async stop(graceMs = 2_000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    await stopChild(child, graceMs);
    this.child = undefined;
  }
}
