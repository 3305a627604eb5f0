import { pino, type DestinationStream, type Level, type Logger } from "pino";

/**
 * The syslog priority journald should give each pino level. journald reads a `<N>` prefix on a line of a service's
 * stdout as its priority (SyslogLevelPrefix=, on by default), so `journalctl -u egw -p err` shows errors only.
 */
const JOURNAL_PRIORITIES: ReadonlyArray<[Level, number]> = [
  ["trace", 7], ["debug", 7], ["info", 6], ["warn", 4], ["error", 3], ["fatal", 2],
];

/** One JSON log line per event on stdout (journald or the supervisor collects it); components get child loggers. */
export function createLogger(level: string, name = "egw", env: NodeJS.ProcessEnv = process.env): Logger {
  const options = { name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  // systemd sets JOURNAL_STREAM when stdout is connected to the journal: only then do lines carry a priority prefix
  // (a supervisor, a terminal or a test reading JSON lines gets plain JSON).
  if (!env["JOURNAL_STREAM"]) return pino(options);
  return pino(options, journalDestination(process.stdout));
}

/** Every line to `out` with its syslog priority in front; each line goes to the one stream of its own level. */
export function journalDestination(out: { write(chunk: string): unknown }): DestinationStream {
  return pino.multistream(
    JOURNAL_PRIORITIES.map(([streamLevel, priority]) => ({
      level: streamLevel,
      stream: { write: (line: string) => out.write(`<${priority}>${line}`) },
    })),
    { dedupe: true },
  );
}
