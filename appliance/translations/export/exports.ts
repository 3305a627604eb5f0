import type { Logger } from "pino";
import type { Config } from "../../config/schema.js";
import { openRotatingFile, type LineWriter, type RotatingFileOptions } from "../../system/rotating-file.js";
import { openSyslogSender, type SyslogSender, type SyslogSenderOptions } from "../../system/syslog-sender.js";
import type { TranslationRecord, TranslationSink } from "../../translation-model.js";
import { translationJsonLine, type TranslationEvent } from "./record-json.js";
import { translationSyslogMessage } from "./syslog-message.js";

export type ExportConfig = Config["translationLog"]["export"];

/** The doorways the exports write through; tests hand in their own so that nothing touches disk or network. */
export interface ExportDeps {
  /** This gateway's name: the syslog HOSTNAME. */
  gateway: string;
  log: Logger;
  openFile?: (options: RotatingFileOptions, log: Logger) => LineWriter;
  openSyslog?: (options: SyslogSenderOptions, log: Logger) => SyslogSender;
}

export interface ExportCounters {
  /** Records written to the file, or handed to the collector's socket. */
  exported: number;
  /** Records given up on (queue full: disk or collector slow or down; a write failed; a record that cannot be formatted). */
  dropped: number;
  /** Records waiting. */
  queued: number;
  /** The current failure's code (ENOSPC, ECONNREFUSED, …), null while all is well. */
  error: string | null;
}

export interface TranslationExportsStatus {
  /** Absent when not configured. */
  jsonLines?: ExportCounters & { path: string };
  syslog?: ExportCounters & { collector: string; transport: "udp" | "tcp"; connected: boolean };
}

export interface TranslationExports {
  /** One per configured export, for the ingest pipeline; none when nothing is configured. */
  sinks: TranslationSink[];
  status(): TranslationExportsStatus;
  /** Sends what is queued (bounded wait), then closes the files and sockets. */
  close(): Promise<void>;
}

/** A summary of drops goes to the log at most this often: at 100k records/s, one line per drop would be a flood. */
const DROP_REPORT_INTERVAL_MS = 60_000;

/**
 * The translation log's exports to a SIEM: each record is exported when its connection opens and again when it
 * ends. Best effort by design: the store is the record of truth, so a slow or absent disk or collector costs
 * counted drops (in status()), never a blocked or failed ingest.
 */
export function createTranslationExports(config: ExportConfig, deps: ExportDeps): TranslationExports {
  const log = deps.log.child({ component: "translation-export" });
  const exports: Export[] = [];
  if (config.jsonLines) {
    const { path, maxBytes, keep } = config.jsonLines;
    const writer = (deps.openFile ?? openRotatingFile)({ path, maxBytes, keep }, log);
    exports.push(new Export("jsonLines", writer, translationJsonLine, log));
  }
  if (config.syslog) {
    const { host, port, transport, facility, appName } = config.syslog;
    const sender = (deps.openSyslog ?? openSyslogSender)({ host, port, transport }, log);
    const header = { facility, hostname: deps.gateway, appName };
    exports.push(new Export("syslog", sender, (event, record) => translationSyslogMessage(header, event, record), log));
  }
  return {
    sinks: exports,
    status() {
      const status: TranslationExportsStatus = {};
      for (const each of exports) {
        const counters = each.counters();
        if (each.name === "jsonLines" && config.jsonLines) status.jsonLines = { path: config.jsonLines.path, ...counters };
        if (each.name === "syslog" && config.syslog) {
          const { host, port, transport } = config.syslog;
          status.syslog = { collector: `${host}:${port}`, transport, connected: (each.writer as SyslogSender).stats().connected, ...counters };
        }
      }
      return status;
    },
    async close() {
      await Promise.all(exports.map((each) => each.close()));
    },
  };
}

/** One export stream as a sink: formats, queues, and never lets a failure reach the ingest pipeline. */
class Export implements TranslationSink {
  /** Records that never reached the writer (could not be formatted). */
  private unformatted = 0;
  private reportedDrops = 0;
  private lastReportMs = 0;
  private reportTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: "jsonLines" | "syslog",
    readonly writer: LineWriter,
    private readonly format: (event: TranslationEvent, record: TranslationRecord) => string,
    private readonly log: Logger,
  ) {}

  opened(record: TranslationRecord): void {
    this.export("open", record);
  }

  closed(record: TranslationRecord): void {
    this.export("close", record);
  }

  counters(): ExportCounters {
    const stats = this.writer.stats();
    return { exported: stats.written, dropped: stats.dropped + this.unformatted, queued: stats.queued, error: stats.error };
  }

  async close(): Promise<void> {
    clearTimeout(this.reportTimer);
    await this.writer.close();
    this.reportDrops();
  }

  private export(event: TranslationEvent, record: TranslationRecord): void {
    let line: string;
    try {
      line = this.format(event, record);
    } catch (error) {
      // A record the store should never have produced (an invalid time): counted and logged, the others go on.
      this.unformatted++;
      this.log.error({ export: this.name, id: record.id, err: error }, "translation record cannot be exported");
      return;
    }
    if (!this.writer.write(line)) this.scheduleDropReport();
  }

  private scheduleDropReport(): void {
    if (this.reportTimer) return;
    const wait = Math.max(0, this.lastReportMs + DROP_REPORT_INTERVAL_MS - Date.now());
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      this.reportDrops();
    }, wait);
    this.reportTimer.unref();
  }

  private reportDrops(): void {
    const { dropped, error } = this.counters();
    if (dropped === this.reportedDrops) return;
    this.log.warn({ export: this.name, dropped: dropped - this.reportedDrops, droppedTotal: dropped, error },
      "translation export dropped records (the store still has them)");
    this.reportedDrops = dropped;
    this.lastReportMs = Date.now();
  }
}
