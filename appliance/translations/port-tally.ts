import type { TransportProtocol, TranslationRecord, TranslationSink } from "../translation-model.js";

/**
 * Source ports the kernel's NAT can give one egress IP towards one (destination address, port, protocol):
 * nf_nat_l4proto_unique_tuple (net/netfilter/nf_nat_core.c) maps an original source port ≥ 1024 into
 * 1024-65535 when the SNAT rule names no port range; net.ipv4.ip_local_port_range plays no part. (Original
 * ports 1-511 map into 1-511 and 512-1023 into 600-1023; pods rarely use those, and they are counted here
 * against the same 64,512.)
 */
export const NAT_SOURCE_PORTS = 64_512;
/** ICMP echo ids: the same function searches all 65,536 of them, per (egress IP, destination address). */
export const NAT_ICMP_IDS = 65_536;

export const DEFAULT_TOP = 10;

/** One destination of one egress IP, and how much of its tuple space is taken. */
export interface DestinationUsage {
  destinationAddress: string;
  /** 0 for ICMP (its id space is per destination address). */
  destinationPort: number;
  protocol: TransportProtocol;
  inUse: number;
  available: number;
  /** inUse / available, 0…1. */
  utilization: number;
}

export interface EgressPortUsage {
  egressAddress: string;
  /** Destinations with at least one open connection through this egress IP. */
  destinations: number;
  /** The busiest destinations, highest utilization first (ties: more in use, then address, port, protocol). */
  busiest: DestinationUsage[];
  /** The busiest destination's utilization (0 with no open connection): where exhaustion comes first. */
  maxUtilization: number;
}

/** What the API and the metrics read of the tally. */
export interface PortView {
  forEgress(egressAddress: string, top?: number): EgressPortUsage;
  perEgress(top?: number): EgressPortUsage[];
}

interface Counter {
  readonly egressAddress: string;
  readonly destinationAddress: string;
  readonly destinationPort: number;
  readonly protocol: TransportProtocol;
  readonly available: number;
  /** The open connections by egress port, each with its pod's side of the tuple. */
  readonly ports: Map<number, { podAddress: string; podPort: number }>;
}

/** Protocol and destination port as one number: a small map key that costs no string per event. */
const PROTOCOL_INDEX: Partial<Record<TransportProtocol, number>> = { tcp: 0, udp: 1, sctp: 2, icmp: 3, icmpv6: 4 };

/**
 * Counts open translated connections per (egress IP, destination address, destination port, protocol), from the
 * translation log's opened and closed records, so that a scrape or a request sees how close each egress IP is to
 * running out of source ports. Each event is a few map lookups (no string is built); memory holds one entry per
 * open connection and one counter per busy destination, and a destination whose last connection closed is
 * forgotten.
 *
 * A connection is known by its whole tuple: the counter of (egress IP, destination, protocol) holds it under its
 * egress port, with the pod's address and port beside it. The kernel keeps the reply tuple (destination → egress
 * IP:port) unique among live connections, so one egress port per counter is one connection.
 */
export class PortTally implements TranslationSink, PortView {
  /** egress IP → destination address → protocol and destination port → counter. */
  private readonly egress = new Map<string, Map<string, Map<number, Counter>>>();
  private readonly destinationCounts = new Map<string, number>();
  private open = 0;

  /** Open connections counted. */
  get openConnections(): number {
    return this.open;
  }

  opened(record: TranslationRecord): void {
    const protocolIndex = PROTOCOL_INDEX[record.protocol];
    // The kernel translates other protocols without touching a port: nothing to run out of.
    if (protocolIndex === undefined) return;
    let byAddress = this.egress.get(record.egressAddress);
    if (!byAddress) {
      byAddress = new Map();
      this.egress.set(record.egressAddress, byAddress);
    }
    let byPort = byAddress.get(record.destinationAddress);
    if (!byPort) {
      byPort = new Map();
      byAddress.set(record.destinationAddress, byPort);
    }
    const portKey = protocolIndex * 65_536 + record.destinationPort;
    let counter = byPort.get(portKey);
    if (!counter) {
      counter = {
        egressAddress: record.egressAddress, destinationAddress: record.destinationAddress, destinationPort: record.destinationPort,
        protocol: record.protocol, available: protocolIndex >= 3 ? NAT_ICMP_IDS : NAT_SOURCE_PORTS, ports: new Map(),
      };
      byPort.set(portKey, counter);
      this.destinationCounts.set(record.egressAddress, (this.destinationCounts.get(record.egressAddress) ?? 0) + 1);
    }
    // A repeated open (a replayed spool, a seed after live events) must not count the connection twice; another
    // pod on a port we hold open means we missed that connection's end: the kernel has moved on, so do we.
    const held = counter.ports.get(record.egressPort);
    if (held && held.podAddress === record.podAddress && held.podPort === record.podPort) return;
    if (!held) this.open += 1;
    counter.ports.set(record.egressPort, { podAddress: record.podAddress, podPort: record.podPort });
  }

  closed(record: TranslationRecord): void {
    const protocolIndex = PROTOCOL_INDEX[record.protocol];
    if (protocolIndex === undefined) return;
    const byAddress = this.egress.get(record.egressAddress);
    const byPort = byAddress?.get(record.destinationAddress);
    const counter = byPort?.get(protocolIndex * 65_536 + record.destinationPort);
    const held = counter?.ports.get(record.egressPort);
    // An end without a known start (opened before the log ran, or closed twice) changes nothing.
    if (!counter || !held || held.podAddress !== record.podAddress || held.podPort !== record.podPort) return;
    counter.ports.delete(record.egressPort);
    this.open -= 1;
    if (counter.ports.size > 0) return;
    byPort?.delete(protocolIndex * 65_536 + record.destinationPort);
    const left = (this.destinationCounts.get(record.egressAddress) ?? 1) - 1;
    this.destinationCounts.set(record.egressAddress, left);
    if (byPort?.size === 0) byAddress?.delete(record.destinationAddress);
    if (left === 0) {
      this.egress.delete(record.egressAddress);
      this.destinationCounts.delete(record.egressAddress);
    }
  }

  /** After a restart: the log's records still open (TranslationLogStore.openRecords()). Ended records are skipped. */
  seed(records: Iterable<TranslationRecord>): void {
    for (const record of records) if (record.endMs === null) this.opened(record);
  }

  /** Egress IPs with open connections, in no particular order. */
  egressAddresses(): string[] {
    return [...this.egress.keys()];
  }

  forEgress(egressAddress: string, top = DEFAULT_TOP): EgressPortUsage {
    const byAddress = this.egress.get(egressAddress);
    if (!byAddress) return { egressAddress, destinations: 0, busiest: [], maxUtilization: 0 };
    const busiest = topOf(byAddress, top).map(usageOf);
    return { egressAddress, destinations: this.destinationCounts.get(egressAddress) ?? 0, busiest, maxUtilization: busiest[0]?.utilization ?? 0 };
  }

  /** Every egress IP with open connections, by address. */
  perEgress(top = DEFAULT_TOP): EgressPortUsage[] {
    return [...this.egress.keys()].sort().map((address) => this.forEgress(address, top));
  }
}

function usageOf(counter: Counter): DestinationUsage {
  return {
    destinationAddress: counter.destinationAddress, destinationPort: counter.destinationPort, protocol: counter.protocol,
    inUse: counter.ports.size, available: counter.available, utilization: counter.ports.size / counter.available,
  };
}

/** a before b: busier first, then a stable order so that equal counts never reorder between scrapes. */
function before(a: Counter, b: Counter): boolean {
  const ua = a.ports.size / a.available;
  const ub = b.ports.size / b.available;
  if (ua !== ub) return ua > ub;
  if (a.ports.size !== b.ports.size) return a.ports.size > b.ports.size;
  if (a.destinationAddress !== b.destinationAddress) return a.destinationAddress < b.destinationAddress;
  if (a.destinationPort !== b.destinationPort) return a.destinationPort < b.destinationPort;
  return a.protocol < b.protocol;
}

/**
 * The `n` first counters of one egress IP in one pass, keeping a sorted array of at most n: O(d·n) at worst, and
 * about d comparisons in practice, since once n are kept most counters lose to the last kept at the first one.
 */
function topOf(byAddress: Map<string, Map<number, Counter>>, n: number): Counter[] {
  const kept: Counter[] = [];
  if (n <= 0) return kept;
  for (const byPort of byAddress.values()) {
    for (const counter of byPort.values()) {
      if (kept.length === n && !before(counter, kept[n - 1] as Counter)) continue;
      let i = kept.length === n ? n - 1 : kept.length;
      if (kept.length < n) kept.push(counter);
      while (i > 0 && before(counter, kept[i - 1] as Counter)) {
        kept[i] = kept[i - 1] as Counter;
        i -= 1;
      }
      kept[i] = counter;
    }
  }
  return kept;
}
