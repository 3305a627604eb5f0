import { pino, type Logger } from "pino";

/** One JSON log line per event on stdout (journald or the supervisor collects it); components get child loggers. */
export function createLogger(level: string, name = "egw"): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
