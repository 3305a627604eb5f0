import { dirname, join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { AppError, errorMessage } from "../errors.js";
import type { Mapping } from "../model.js";
import { readTranslatedConnections, translationKey } from "../kernel/conntrack-table.js";
import { openTranslationLogStore } from "../store/translation-log.js";
import { TranslationLookups } from "../store/translation-log/lookups.js";
import { Supervisor } from "../system/supervisor.js";
import type { System } from "../system/system.js";
import type { TranslationLogStore, TranslationPage, TranslationQuery } from "../translation-model.js";
import { Attribution } from "./attribution.js";
import { createTranslationExports } from "./export/exports.js";
import { GapKeeper } from "./gaps.js";
import { TranslationIngest, type IngestStatus } from "./ingest.js";
import { PortTally } from "./port-tally.js";
import { renderUlogdConfig } from "./ulogd-config.js";
import { ulogdSpec, UlogdSupervision, type UlogdProcess } from "./ulogd-supervision.js";

/**
 * Conntrack must account traffic and date each connection for the log's records to carry counters and the kernel's
 * own start time (a NEW event that came late, or only the DESTROY, still gives the true start).
 */
const CONNTRACK_SYSCTLS = { "net/netfilter/nf_conntrack_acct": "1", "net/netfilter/nf_conntrack_timestamp": "1" } as const;

const DAY_MS = 86_400_000;
const PRUNE_INTERVAL_MS = 60_000;
const PRUNE_BATCH = 5_000;
/** Pruning gives the ingest the thread back after this many batches; the next interval goes on. */
const PRUNE_BATCHES_PER_PASS = 20;

export interface TranslationLogOptions {
  config: Config;
  system: System;
  /** The mappings in force and the store revision they belong to (attribution is rebuilt when it moves). */
  mappings(): { revision: number; mappings: Mapping[] };
  log: Logger;
  clock?: () => number;
  /** Tests replace ulogd; the daemon runs the real one under a Supervisor. */
  ulogd?: (spec: ReturnType<typeof ulogdSpec>, log: Logger) => UlogdProcess;
}

export interface TranslationLogStatus extends Omit<IngestStatus, "state"> {
  /**
   * running: every translation is being recorded. not-running: ulogd is not running (starting, restarting, or
   * missing). failed: the log could not start at all (its store would not open); the data plane runs on.
   */
  state: IngestStatus["state"] | "not-running" | "failed";
  /** Why it failed to start. */
  error?: string;
  sizeBytes: number;
  directory: string;
  exports: ReturnType<ReturnType<typeof createTranslationExports>["status"]>;
}

/**
 * The translation log, assembled: ulogd (NFCT with reliable delivery → JSON spool) as the daemon's child, the
 * ingest that reads the spool into the log's own store, the sinks every stored record goes to (the port tally, the
 * exports), retention, and the gaps of time it was not recording. The daemon starts it, hands the API its query
 * and the tally, and stops it.
 */
export class TranslationLog {
  readonly tally = new PortTally();
  readonly directory: string;
  private store: TranslationLogStore | undefined;
  private lookups: TranslationLookups | undefined;
  private ingest: TranslationIngest | undefined;
  private supervision: UlogdSupervision | undefined;
  private exports: ReturnType<typeof createTranslationExports> | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private attribution: { revision: number; attribution: Attribution } | undefined;
  private gaps: GapKeeper | undefined;
  private failure: string | undefined;
  private readonly clock: () => number;
  private readonly warningsAtStart: string[] = [];

  constructor(private readonly options: TranslationLogOptions) {
    const { config } = options;
    this.directory = config.translationLog.directory ?? join(dirname(config.database.path), "translations");
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Starts recording. A log that cannot start (its store will not open, its directory cannot be made) must not take
   * the data plane with it: the failure is logged, shown in /v1/status and the metrics, and lookups answer 503.
   */
  start(): void {
    try {
      this.startRecording();
    } catch (error) {
      this.failure = errorMessage(error);
      this.options.log.error({ err: error }, "translation log failed to start; the data plane runs on without it");
      void this.stop();
    }
  }

  private startRecording(): void {
    const { config, system, log } = this.options;
    const settings = config.translationLog;
    system.files.makeDirectory(this.directory, 0o700);
    for (const [key, value] of Object.entries(CONNTRACK_SYSCTLS)) {
      try {
        if (system.sysctls.readSysctl(key) !== value) system.sysctls.writeSysctl(key, value);
      } catch (error) {
        this.warn(`translation log: cannot set ${key.replaceAll("/", ".")}=${value} (${errorMessage(error)}): records will lack ${key.endsWith("acct") ? "traffic counters" : "the kernel's start and end times"}`);
      }
    }
    const bootId = system.sysctls.readSysctl("kernel/random/boot_id");
    const storePath = join(this.directory, "translations.db");
    const store = openTranslationLogStore(storePath, { gateway: config.gateway.name, bootId });
    this.store = store;
    // Lookups read the file from a worker thread: a wide one must not hold the daemon's thread.
    this.lookups = new TranslationLookups(storePath, { gateway: config.gateway.name, log: log.child({ component: "translation-lookups" }) });
    // Connections of an earlier boot died with its kernel; their end was never reported.
    const orphaned = store.closeRecordsOfEarlierBoots(bootId, this.clock());
    if (orphaned > 0) log.info({ records: orphaned }, "translation log: closed the records the previous boot left open");
    this.tally.seed(store.openRecords());
    const exports = createTranslationExports(settings.export, { gateway: config.gateway.name, log: log.child({ component: "translation-export" }) });
    this.exports = exports;

    const spoolPath = join(this.directory, "spool.json");
    const configPath = join(this.directory, "ulogd.conf");
    system.files.writeFile(configPath, renderUlogdConfig(settings, { spoolPath, generatedFor: config.gateway.name }), 0o600);
    const gaps = new GapKeeper(store, log.child({ component: "translation-gaps" }));
    this.gaps = gaps;
    const spec = ulogdSpec(settings.ulogd.command, configPath);
    const ulogdLog = log.child({ component: "ulogd" });
    const ulogd: UlogdProcess = this.options.ulogd?.(spec, ulogdLog) ?? new Supervisor(spec, ulogdLog);
    const supervision = new UlogdSupervision(ulogd, gaps, this.clock);
    this.supervision = supervision;
    // Every time ulogd (re)starts, the log has not been listening: ends it missed never come.
    ulogd.on("spawn", () => void this.closeWhatTheKernelNoLongerHolds());
    const ingest = new TranslationIngest({
      store, spool: system.spool, spoolPath,
      attribution: () => this.currentAttribution(),
      sinks: [this.tally, ...exports.sinks],
      gaps, log: log.child({ component: "translation-ingest" }), clock: this.clock,
      signalUlogd: (signal) => supervision.signal(signal),
      onDiskFull: (full) => {
        if (full) void supervision.stop();
        else supervision.start();
      },
      // The ingest shares the daemon's thread with the API and the reconcile loop: a chunk of about 2,000 events
      // holds it for tens of milliseconds at most, then everyone else gets a turn.
      limits: { maxBatchEvents: 2_500, chunkBytes: 1024 * 1024, rotateAtBytes: 256 * 1024 * 1024, minFreeBytes: settings.minFreeBytes },
    });
    this.ingest = ingest;
    supervision.start();
    ingest.start();
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
    log.info({ directory: this.directory, retentionDays: settings.retentionDays, maxBytes: settings.maxBytes }, "translation log started");
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    // Before the store: the reader's connection goes first, so the writer's close can checkpoint and remove the WAL.
    await this.lookups?.close();
    this.lookups = undefined;
    this.ingest?.stop();
    await this.supervision?.stop();
    await this.exports?.close();
    this.store?.close();
    this.store = undefined;
  }

  /** Answered by the lookup worker; see TranslationLookups for the errors (budget, queue). */
  async query(query: TranslationQuery): Promise<TranslationPage> {
    if (!this.lookups) throw new AppError("not-ready", `the translation log is not running${this.failure ? `: it failed to start (${this.failure})` : ""}`);
    return this.lookups.query(query);
  }

  status(): TranslationLogStatus | undefined {
    if (this.failure !== undefined) {
      return {
        state: "failed", error: this.failure, lagMs: 0, spoolBytesBehind: 0, eventsIngested: 0, eventsUnattributed: 0, eventsMalformed: 0,
        recoveredNewEvents: 0, lastEventMs: null, sizeBytes: 0, directory: this.directory, exports: {},
      };
    }
    if (!this.ingest || !this.store || !this.exports) return undefined;
    const ingest = this.ingest.status();
    // The ingest can be caught up with a spool nobody writes: while ulogd is down, nothing is being recorded.
    const state = ingest.state === "running" && this.gaps?.has("not-running") ? "not-running" : ingest.state;
    return { ...ingest, state, sizeBytes: this.store.sizeBytes(), directory: this.directory, exports: this.exports.status() };
  }

  /** What /v1/status lists under warnings: a log that is not recording is something an auditor must hear of. */
  warnings(): string[] {
    const status = this.status();
    const now: string[] = [];
    if (status && status.state !== "running") now.push(`translation log not recording (${status.state}${status.error ? `: ${status.error}` : ""}): connections are not being logged; see docs/operator-guide.md, "The translation log"`);
    if (status && status.lagMs > 30_000) now.push(`translation log ${Math.round(status.lagMs / 1000)} s behind the kernel's events`);
    return [...this.warningsAtStart, ...now];
  }

  private warn(warning: string): void {
    this.options.log.warn(warning);
    this.warningsAtStart.push(warning);
  }

  /** Rebuilt only when the mappings' revision moved: the ingest asks for it once per batch. */
  private currentAttribution(): Attribution {
    const { revision, mappings } = this.options.mappings();
    if (this.attribution?.revision !== revision) this.attribution = { revision, attribution: new Attribution(mappings) };
    return this.attribution.attribution;
  }

  /**
   * Closes the open records whose connections the kernel no longer holds: they ended while the log was not
   * listening (the daemon or ulogd down within one boot), and their end event will never come. Their end is "when
   * the log noticed" (reason log-interrupted), an upper bound; without this they would hold their port in every
   * later lookup and in the port tally.
   */
  async closeWhatTheKernelNoLongerHolds(): Promise<number> {
    const { system, log } = this.options;
    try {
      // A connection that starts after the dump is not in it, and is no reason to close anything.
      const dumpedAt = this.clock();
      const live = await readTranslatedConnections(system.runner);
      const store = this.store;
      if (!store) return 0;
      const gone = [...store.openRecords()].filter((record) => record.startMs < dumpedAt && !live.has(translationKey(record))).map((record) => record.id);
      if (gone.length === 0) return 0;
      const closed = store.closeOpenRecords(gone, this.clock(), "log-interrupted");
      for (const sink of [this.tally, ...(this.exports?.sinks ?? [])]) {
        for (const record of closed) {
          try {
            sink.closed(record);
          } catch (error) {
            log.warn({ err: error }, "a translation sink failed on a record closed for an interruption");
          }
        }
      }
      log.info({ records: closed.length }, "translation log: closed the records of connections that ended while it was not listening");
      return closed.length;
    } catch (error) {
      log.warn({ err: error }, "translation log: could not compare its open records with the kernel's connections; they stay open until their end is seen");
      return 0;
    }
  }

  private prune(): void {
    const store = this.store;
    if (!store) return;
    const settings = this.options.config.translationLog;
    try {
      let deleted = 0;
      for (let pass = 0; pass < PRUNE_BATCHES_PER_PASS; pass++) {
        const n = store.prune({ olderThanMs: this.clock() - settings.retentionDays * DAY_MS, maxBytes: settings.maxBytes, batch: PRUNE_BATCH });
        deleted += n;
        if (n < PRUNE_BATCH) break;
      }
      if (deleted > 0) this.options.log.info({ deleted }, "translation log: pruned records past retention or size");
    } catch (error) {
      this.options.log.error({ err: error }, "translation log: pruning failed");
    }
  }
}
