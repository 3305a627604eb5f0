import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { CachedReading } from "./cached-reading.js";
import type { ApplyReport } from "./reconcile/reconciler.js";

export interface MetricSources {
  storeRevision(): number;
  appliedRevision(): number;
  counts(): { mappings: number; routes: number; egressIps: number; clusters: number };
  egressCounters(): Promise<{ address: string; direction: "out" | "in"; packets: number; bytes: number }[]>;
  /** Packets each guard dropped (NftClient.readGuardCounters); absent: the metric stays empty. */
  guardDrops?(): Promise<Map<string, { packets: number }>>;
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
  collectDefaultMetrics({ register: registry, prefix: "egw_" });
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
  return {
    registry,
    recordApply(report: ApplyReport): void {
      applies.inc({ result: report.ok ? "ok" : "error", kind: report.kind });
      if (report.kind !== "none") applyDuration.observe({ kind: report.kind }, report.durationMs / 1000);
    },
    recordDrift(): void {
      driftRepairs.inc();
    },
  };
}
