import { fstatSync } from "node:fs";
import { pino, type DestinationStream, type Logger } from "pino";

/**
 * The syslog priority journald should give a line of each pino level: trace and debug 7, info 6, warn 4, error 3,
 * fatal 2. journald reads a `<N>` prefix on a line of a service's stdout as its priority (SyslogLevelPrefix=, on by
 * default) and strips it, so `journalctl -u egw -p err` shows errors only.
 */
export function journalPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/**
 * One JSON log line per event on stdout (journald or the supervisor collects it); components get child loggers.
 * `level` is the level's name ("info", "error"), which reads the same in jq and in journalctl's JSON.
 */
export function createLogger(level: string, name = "egw", env: NodeJS.ProcessEnv = process.env): Logger {
  const options = {
    name, level, base: { pid: process.pid }, timestamp: isoTimeOfMillisecond,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  // Only when stdout is the journal do lines carry a priority prefix: a supervisor, a terminal, a pipe or a test
  // reading JSON lines gets plain JSON, also when it inherited JOURNAL_STREAM from a service that runs it.
  if (!stdoutIsJournal(env["JOURNAL_STREAM"], () => fstatSync(1, { bigint: true }))) return pino(options);
  return pino(options, journalDestination(pino.destination({ dest: 1, sync: true })));
}

let lastMillisecond = Number.NaN;
let lastTimeField = "";

/**
 * pino's isoTime, formatted once per millisecond: under load many lines share one (an API read's line spent 3 % of
 * the read in Date#toISOString).
 */
export function isoTimeOfMillisecond(now = Date.now()): string {
  if (now !== lastMillisecond) {
    lastMillisecond = now;
    lastTimeField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTimeField;
}

/**
 * Whether fd 1 is the stream systemd connected to the journal: systemd sets JOURNAL_STREAM to that stream's
 * "device:inode", and a process whose stdout was redirected since (or that inherited the variable) must compare
 * them (sd_journal_stream_fd(3), systemd.exec(5)).
 */
export function stdoutIsJournal(journalStream: string | undefined, statStdout: () => { dev: bigint; ino: bigint }): boolean {
  const match = /^(\d+):(\d+)$/.exec(journalStream ?? "");
  if (!match) return false;
  try {
    const stdout = statStdout();
    return stdout.dev === BigInt(match[1] as string) && stdout.ino === BigInt(match[2] as string);
  } catch {
    return false;
  }
}

/**
 * A destination that puts each line's syslog priority in front of it. pino hands a destination that asks for
 * metadata (the `pino.metadata` symbol) the level of the line it is about to write, so this costs one string
 * concatenation per line: no parsing, no worker thread, no stream per level.
 */
export function journalDestination(out: { write(chunk: string): unknown }): DestinationStream & { lastLevel: number } {
  return {
    [Symbol.for("pino.metadata")]: true,
    lastLevel: 30,
    write(line: string) {
      out.write(`<${journalPriority(this.lastLevel)}>${line}`);
    },
  };
}
