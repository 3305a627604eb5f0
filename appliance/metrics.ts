import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { CachedReading } from "./cached-reading.js";
import type { ApplyReport } from "./reconcile/reconciler.js";
import type { ConntrackStats } from "./kernel/conntrack-stats.js";
import { registerPortMetrics } from "./translations/port-metrics.js";
import type { PortTally } from "./translations/port-tally.js";
import type { TranslationLogStatus } from "./translations/translation-log.js";
import { registerPolicyMetrics, type PolicyMetricSources } from "./egress-policy/policy-metrics.js";
import { registerPolicyLogMetrics } from "./egress-policy/policy-log-metrics.js";
import type { PolicyLogStatus } from "./egress-policy/policy-log.js";
import { registerHaMetrics, type HaMetricSources } from "./ha-metrics.js";
import { registerHttpMetrics, type HttpObservation } from "./http-metrics.js";
import { egwVersion } from "./version.js";

export interface MetricSources {
  storeRevision(): number;
  appliedRevision(): number;
  counts(): { mappings: number; routes: number; egressIps: number; clusters: number };
  egressCounters(): Promise<{ address: string; direction: "out" | "in"; packets: number; bytes: number }[]>;
  /** Packets each guard dropped (NftClient.readGuardCounters); absent: the metric stays empty. */
  guardDrops?(): Promise<Map<string, { packets: number }>>;
  /** With translationLog.enabled: the log's state, and the port tally it feeds. */
  translationLog?: {
    status(): TranslationLogStatus | undefined;
    tally(): PortTally | undefined;
    conntrackStats(): Promise<ConntrackStats>;
  };
  /** The egress policy's counters, floors and DNS names; absent: its metrics are not registered. */
  policy?: PolicyMetricSources;
  /** With policy.log.enabled: the policy log's state and counts. */
  policyLog?: { status(): PolicyLogStatus };
  /** In a gateway group: this gateway's VRRP role and, while it leads, its followers' replication. */
  ha?: Omit<HaMetricSources, "storeRevision">;
}

export interface MetricsOptions {
  /** Kernel counters are read at most this often, however many scrapes arrive. */
  kernelReadingMaxAgeMs: number;
}

/**
 * The daemon's Prometheus metrics; values that live elsewhere are read at scrape time. Reading the kernel's
 * counters is the one costly part (a process per reading): all scrapes within the interval share one reading.
 */
export function createMetrics(sources: MetricSources, options: MetricsOptions = { kernelReadingMaxAgeMs: 5_000 }) {
  const registry = new Registry();
  const egressCounters = new CachedReading(() => sources.egressCounters(), options.kernelReadingMaxAgeMs);
  const guardDrops = new CachedReading(async () => (await sources.guardDrops?.()) ?? new Map<string, { packets: number }>(), options.kernelReadingMaxAgeMs);
  const readErrors = new Counter({ name: "egw_metrics_read_errors_total", help: "Scrapes whose kernel reading failed (those values were left out)", registers: [registry] });
  // Unprefixed on purpose: process_cpu_seconds_total, process_resident_memory_bytes, nodejs_* are the names stock
  // Node.js dashboards and alerts query.
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "egw_build_info", help: "1, labelled with the running release and the Node.js version", labelNames: ["version", "node_version"], registers: [registry],
  }).set({ version: egwVersion(), node_version: process.version }, 1);
  new Gauge({ name: "egw_store_revision", help: "Newest revision in the store", registers: [registry], collect() { this.set(sources.storeRevision()); } });
  new Gauge({ name: "egw_applied_revision", help: "Revision the data plane last applied", registers: [registry], collect() { this.set(sources.appliedRevision()); } });
  new Gauge({
    name: "egw_objects", help: "Stored objects by kind", labelNames: ["kind"], registers: [registry],
    collect() { for (const [kind, n] of Object.entries(sources.counts())) this.set({ kind }, n); },
  });
  const applies = new Counter({ name: "egw_apply_total", help: "Data-plane passes by result and kind", labelNames: ["result", "kind"], registers: [registry] });
  const applyDuration = new Histogram({
    name: "egw_apply_duration_seconds", help: "Duration of data-plane passes that changed something", labelNames: ["kind"], registers: [registry],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const lastSuccess = new Gauge({
    name: "egw_apply_last_success_timestamp_seconds", help: "Unix time of the last data-plane pass that succeeded (0 until the first one since start)", registers: [registry],
  });
  const driftRepairs = new Counter({ name: "egw_drift_repairs_total", help: "Times the kernel state was found changed by someone else", registers: [registry] });
  // nft counters only grow (until a full table replace); expose them as Prometheus counters.
  for (const unit of ["packets", "bytes"] as const) {
    new Counter({
      name: `egw_egress_ip_${unit}_total`, help: `${unit} through each egress IP, by direction`, labelNames: ["egress_ip", "direction"], registers: [registry],
      async collect() {
        const counters = await egressCounters.get().catch(() => {
          readErrors.inc();
          return [];
        });
        // Reset and refill in one synchronous step: concurrent scrapes must never add their readings up.
        this.reset();
        for (const counter of counters) this.inc({ egress_ip: counter.address, direction: counter.direction }, counter[unit]);
      },
    });
  }
  new Counter({
    name: "egw_guard_drops_total", help: "Packets dropped by each guard of our table (spoofed sources, VRRP, conntrackd and replication from anyone but the peer)",
    labelNames: ["guard"], registers: [registry],
    async collect() {
      const drops = await guardDrops.get().catch(() => {
        readErrors.inc();
        return new Map<string, { packets: number }>();
      });
      // Reset and refill in one synchronous step, like the egress counters.
      this.reset();
      for (const [guard, { packets }] of drops) this.inc({ guard }, packets);
    },
  });
  if (sources.translationLog) registerTranslationLogMetrics(registry, sources.translationLog, options, () => readErrors.inc());
  const policyLog = sources.policyLog;
  if (policyLog) registerPolicyLogMetrics(registry, () => policyLog.status());
  if (sources.ha) registerHaMetrics(registry, { ...sources.ha, storeRevision: () => sources.storeRevision() });
  const recordHttpRequest = registerHttpMetrics(registry);
  const policy = sources.policy ? registerPolicyMetrics(registry, sources.policy, options.kernelReadingMaxAgeMs, () => readErrors.inc()) : undefined;
  return {
    registry,
    recordApply(report: ApplyReport): void {
      applies.inc({ result: report.ok ? "ok" : "error", kind: report.kind });
      if (report.kind !== "none") applyDuration.observe({ kind: report.kind }, report.durationMs / 1000);
      if (report.ok) {
        const at = Date.parse(report.at);
        lastSuccess.set((Number.isFinite(at) ? at : Date.now()) / 1000);
      }
    },
    /** One answered API request (api/middleware/request-log.ts). */
    recordHttpRequest(observation: HttpObservation): void {
      recordHttpRequest(observation);
    },
    recordDrift(): void {
      driftRepairs.inc();
    },
    /** Counts a lookup of a policy DNS name. */
    recordDnsLookup(outcome: "answer" | "failed"): void {
      policy?.resolution(outcome);
    },
  };
}

/** The translation log's health (0 lost events is the goal; a gap or a lag is an auditor's problem) and port use. */
function registerTranslationLogMetrics(registry: Registry, source: NonNullable<MetricSources["translationLog"]>, options: MetricsOptions, onReadError: () => void): void {
  const gauge = (name: string, help: string, value: (status: TranslationLogStatus) => number) => new Gauge({
    name, help, registers: [registry],
    collect() {
      const status = source.status();
      this.reset();
      if (status) this.set(value(status));
    },
  });
  gauge("egw_translation_log_up", "1 while the translation log records every translation; 0 while it is stopped, the disk is full or its store fails (a gap is recorded)", (s) => (s.state === "running" ? 1 : 0));
  gauge("egw_translation_log_lag_seconds", "How far the log is behind the kernel's events (0 when it has read everything ulogd wrote)", (s) => s.lagMs / 1000);
  gauge("egw_translation_log_spool_bytes_behind", "Bytes ulogd wrote that the log has not stored yet", (s) => s.spoolBytesBehind);
  gauge("egw_translation_log_size_bytes", "Size on disk of the log's store (file and WAL)", (s) => s.sizeBytes);
  // Counters read from the pipeline's own running totals: reset and refill in one synchronous step.
  new Counter({
    name: "egw_translation_log_events_total", help: "Conntrack events read from the spool, by outcome (stored; unattributed: no mapping explains the translation)",
    labelNames: ["outcome"], registers: [registry],
    collect() {
      const status = source.status();
      this.reset();
      if (!status) return;
      this.inc({ outcome: "stored" }, status.eventsIngested);
      this.inc({ outcome: "unattributed" }, status.eventsUnattributed);
    },
  });
  new Counter({
    name: "egw_translation_log_lost_events_total", help: "Events the log received and could not record (unreadable spool lines); 0 is the goal. Time not recorded at all is a gap (see /v1/translations)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.status()?.eventsMalformed ?? 0);
    },
  });
  new Counter({
    name: "egw_translation_log_recovered_events_total", help: "Connections whose start event was missed and which were recorded whole from their end event (kernel reliable delivery at work, or opened before the log ran)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.status()?.recoveredNewEvents ?? 0);
    },
  });
  new Counter({
    name: "egw_translation_export_records_total", help: "Records handed to each export, by result (dropped: the export's queue was full: the disk or the collector is slow, full or down)",
    labelNames: ["export", "result"], registers: [registry],
    collect() {
      const exports = source.status()?.exports;
      this.reset();
      for (const [name, counters] of Object.entries(exports ?? {})) {
        if (!counters) continue;
        this.inc({ export: name, result: "exported" }, counters.exported);
        this.inc({ export: name, result: "dropped" }, counters.dropped);
      }
    },
  });
  registerPortMetrics(registry, { tally: () => source.tally(), conntrackStats: () => source.conntrackStats() }, { kernelReadingMaxAgeMs: options.kernelReadingMaxAgeMs, onReadError });
}
