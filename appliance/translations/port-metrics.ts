import { Counter, Gauge, type Registry } from "prom-client";
import { CachedReading } from "../cached-reading.js";
import type { ConntrackStats } from "../kernel/conntrack-stats.js";
import { DEFAULT_TOP, type EgressPortUsage } from "./port-tally.js";

export interface PortMetricSources {
  /** The port tally (PortTally); absent while the translation log is off: the port metrics stay empty. */
  tally(): { perEgress(top?: number): EgressPortUsage[] } | undefined;
  /** readConntrackStats(runner, sysctls). */
  conntrackStats(): Promise<ConntrackStats>;
}

export interface PortMetricsOptions {
  /** Destinations per egress IP that get their own egw_egress_ip_ports_in_use series. */
  top?: number;
  /** The kernel's statistics are read at most this often, however many scrapes arrive. */
  kernelReadingMaxAgeMs: number;
  /** The three port metrics of one scrape share one walk of the tally made within this (default 250 ms). */
  tallyReadingMaxAgeMs?: number;
  /** Called when a reading of the kernel failed (metrics.ts counts it in egw_metrics_read_errors_total). */
  onReadError?: (error: unknown) => void;
}

/** `address:port`, with an IPv6 address in brackets; ICMP (no port) is the address alone. */
export function destinationLabel(usage: { destinationAddress: string; destinationPort: number; protocol: string }): string {
  if (usage.protocol === "icmp" || usage.protocol === "icmpv6") return usage.destinationAddress;
  const host = usage.destinationAddress.includes(":") ? `[${usage.destinationAddress}]` : usage.destinationAddress;
  return `${host}:${usage.destinationPort}`;
}

/**
 * Port exhaustion and conntrack health, registered on the daemon's registry. The tally is walked once per scrape
 * (all three port metrics share that walk); the kernel's statistics are one `conntrack -S` per interval.
 */
export function registerPortMetrics(registry: Registry, sources: PortMetricSources, options: PortMetricsOptions): void {
  const top = options.top ?? DEFAULT_TOP;
  // Scrapes come seconds apart and a scrape collects the metrics one after another: 250 ms joins its three walks.
  const usage = new CachedReading(async () => sources.tally()?.perEgress(top) ?? [], options.tallyReadingMaxAgeMs ?? 250);
  const stats = new CachedReading(() => sources.conntrackStats(), options.kernelReadingMaxAgeMs);
  const readStats = () => stats.get().then((value): ConntrackStats | undefined => value, (error: unknown) => {
    options.onReadError?.(error);
    return undefined;
  });

  new Gauge({
    name: "egw_egress_ip_port_utilization_ratio",
    help: "Share of source ports in use towards each egress IP's busiest destination (address, port, protocol), 0-1; new connections to it fail at 1, and sporadically well before",
    labelNames: ["egress_ip"], registers: [registry],
    async collect() {
      const egress = await usage.get();
      this.reset();
      for (const e of egress) this.set({ egress_ip: e.egressAddress }, e.maxUtilization);
    },
  });
  new Gauge({
    name: "egw_egress_ip_ports_in_use",
    help: `Open translated connections (source ports in use) per egress IP towards a destination; only each egress IP's ${top} busiest destinations are exported, to bound the number of series`,
    labelNames: ["egress_ip", "destination", "protocol"], registers: [registry],
    async collect() {
      const egress = await usage.get();
      this.reset();
      for (const e of egress) {
        for (const d of e.busiest) this.set({ egress_ip: e.egressAddress, destination: destinationLabel(d), protocol: d.protocol }, d.inUse);
      }
    },
  });
  new Gauge({
    name: "egw_egress_ip_destinations",
    help: "Destinations (address, port, protocol) with at least one open translated connection, per egress IP",
    labelNames: ["egress_ip"], registers: [registry],
    async collect() {
      const egress = await usage.get();
      this.reset();
      for (const e of egress) this.set({ egress_ip: e.egressAddress }, e.destinations);
    },
  });

  const kernelCounter = (name: string, help: string, pick: (s: ConntrackStats) => number) => new Counter({
    name, help, registers: [registry],
    async collect() {
      const value = await readStats();
      // An unlabelled counter cannot be left out, and a 0 would read as a counter reset: a failed reading keeps the
      // last value (egw_metrics_read_errors_total says why it is stale).
      if (!value) return;
      // Reset and refill in one synchronous step: concurrent scrapes must never add their readings up.
      this.reset();
      this.inc(pick(value));
    },
  });
  kernelCounter("egw_conntrack_insert_failed_total",
    "New connections conntrack could not insert (summed over CPUs); with source NAT, a rising count means an egress IP ran out of source ports towards some destination",
    (s) => s.insertFailed);
  kernelCounter("egw_conntrack_drop_total", "Packets conntrack dropped (summed over CPUs)", (s) => s.drop);
  kernelCounter("egw_conntrack_early_drop_total", "Entries conntrack evicted early because its table was full (summed over CPUs)", (s) => s.earlyDrop);

  new Gauge({
    name: "egw_conntrack_entries", help: "Entries in the conntrack table", registers: [registry],
    async collect() {
      const value = await readStats();
      if (value) this.set(value.entries);
    },
  });
  new Gauge({
    name: "egw_conntrack_max", help: "The conntrack table's limit (net.netfilter.nf_conntrack_max)", registers: [registry],
    async collect() {
      const value = await readStats();
      if (value?.max != null) this.set(value.max);
    },
  });
}
