import pino from "pino";
import type { Mapping } from "../../appliance/model.js";
import { openTranslationLogStore } from "../../appliance/store/translation-log.js";
import { HostSpoolFiles } from "../../appliance/system/spool.js";
import type { TranslationRecord, TranslationSink } from "../../appliance/translation-model.js";
import { Attribution } from "../../appliance/translations/attribution.js";
import { GapKeeper } from "../../appliance/translations/gaps.js";
import { TranslationIngest } from "../../appliance/translations/ingest.js";
import { PortTally } from "../../appliance/translations/port-tally.js";

/**
 * The daemon's half of the translation log, alone in its own process as in production (the daemon is not the
 * benchmark): the real TranslationIngest reading ulogd's spool into the real store, with the port tally and a
 * counting sink behind it. The benchmark drives it over IPC (see translation-log-pipeline.ts).
 */
export interface WorkerSetup { spoolPath: string; dbPath: string; mapping: Mapping }

export type WorkerRequest = { id: number } & ({ op: "status"; egress: string } | { op: "ulogd"; pid: number | null } | { op: "stop" });

export interface WorkerStatus {
  /** Rows stored: records opened by a NEW plus destroys that found no open record. */
  records: number;
  closed: number;
  /** Destroys whose NEW never arrived (a lost NEW event), become whole records. */
  recovered: number;
  /** The packets the closed records carried (conntrack accounting), to compare with what the server received. */
  closedPackets: number;
  eventsIngested: number;
  eventsUnattributed: number;
  eventsMalformed: number;
  lagMs: number;
  spoolBytesBehind: number;
  state: string;
  sizeBytes: number;
  usedBytes: number;
  /** The port tally's busiest destination of the asked egress IP. */
  maxUtilization: number;
  openInTally: number;
  /** CPU seconds this process used so far. */
  cpuSeconds: number;
}

/** Counts what the store handed out; a record closed without having been opened here is a recovered NEW. */
class CountingSink implements TranslationSink {
  private readonly open = new Set<number>();
  readonly counts = { records: 0, closed: 0, recovered: 0, closedPackets: 0 };
  opened(record: TranslationRecord): void {
    this.open.add(record.id);
    this.counts.records++;
  }
  closed(record: TranslationRecord): void {
    this.counts.closed++;
    this.counts.closedPackets += record.counters?.originalPackets ?? 0;
    if (!this.open.delete(record.id)) {
      this.counts.recovered++;
      this.counts.records++;
    }
  }
}

function main(): void {
  const setup = JSON.parse(process.argv[2] as string) as WorkerSetup;
  const log = pino({ level: "warn" }, pino.destination(2));
  const store = openTranslationLogStore(setup.dbPath, { gateway: "gw-bench", bootId: "bench-boot" });
  const attribution = new Attribution([setup.mapping]);
  const tally = new PortTally();
  const counting = new CountingSink();
  let ulogdPid: number | null = null;
  const ingest = new TranslationIngest({
    store, spool: new HostSpoolFiles(), spoolPath: setup.spoolPath, attribution: () => attribution,
    sinks: [tally, counting], gaps: new GapKeeper(store, log), log, clock: Date.now,
    signalUlogd: (signal) => {
      if (ulogdPid === null) return false;
      try {
        process.kill(ulogdPid, signal);
        return true;
      } catch {
        return false;
      }
    },
    onDiskFull: () => {},
    // The daemon's limits (translation-log.ts), so that rotation is part of what is measured.
    limits: { maxBatchEvents: 5_000, chunkBytes: 4 * 1024 * 1024, rotateAtBytes: 256 * 1024 * 1024, minFreeBytes: 0 },
  });
  ingest.start();
  process.on("message", (message: WorkerRequest) => {
    if (message.op === "ulogd") {
      ulogdPid = message.pid;
      process.send?.({ id: message.id });
    } else if (message.op === "status") {
      const status = ingest.status();
      const usage = process.cpuUsage();
      const reply: WorkerStatus = {
        ...counting.counts,
        eventsIngested: status.eventsIngested, eventsUnattributed: status.eventsUnattributed, eventsMalformed: status.eventsMalformed,
        lagMs: status.lagMs, spoolBytesBehind: status.spoolBytesBehind, state: status.state,
        sizeBytes: store.sizeBytes(), usedBytes: store.usedBytes(),
        maxUtilization: tally.forEgress(message.egress).maxUtilization, openInTally: tally.openConnections,
        cpuSeconds: (usage.user + usage.system) / 1e6,
      };
      process.send?.({ id: message.id, status: reply });
    } else {
      ingest.stop();
      store.close();
      process.send?.({ id: message.id }, () => process.exit(0));
    }
  });
  process.on("disconnect", () => {
    ingest.stop();
    store.close();
    process.exit(0);
  });
}

main();
