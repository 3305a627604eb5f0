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
  inUse: number;
}

/**
 * Counts open translated connections per (egress IP, destination address, destination port, protocol), from the
 * translation log's opened and closed records, so that a scrape or a request sees how close each egress IP is to
 * running out of source ports. Each event is O(1); memory holds one entry per open connection and one counter per
 * busy destination, and a destination whose last connection closed is forgotten.
 */
export class PortTally implements TranslationSink, PortView {
  /** Open connections by their whole tuple: the kernel keeps both directions' tuples unique among live entries. */
  private readonly connections = new Map<string, Counter>();
  private readonly egress = new Map<string, Map<string, Counter>>();

  /** Open connections counted. */
  get openConnections(): number {
    return this.connections.size;
  }

  opened(record: TranslationRecord): void {
    const available = availableFor(record.protocol);
    if (available === undefined) return;
    const key = connectionKey(record);
    // A repeated open (a replayed spool, a seed after live events) must not count the connection twice.
    if (this.connections.has(key)) return;
    let destinations = this.egress.get(record.egressAddress);
    if (!destinations) {
      destinations = new Map();
      this.egress.set(record.egressAddress, destinations);
    }
    const destinationKey = `${record.protocol} ${record.destinationAddress} ${record.destinationPort}`;
    let counter = destinations.get(destinationKey);
    if (!counter) {
      counter = {
        egressAddress: record.egressAddress, destinationAddress: record.destinationAddress,
        destinationPort: record.destinationPort, protocol: record.protocol, available, inUse: 0,
      };
      destinations.set(destinationKey, counter);
    }
    counter.inUse += 1;
    this.connections.set(key, counter);
  }

  closed(record: TranslationRecord): void {
    const key = connectionKey(record);
    const counter = this.connections.get(key);
    // An end without a known start (opened before the log ran, or closed twice) changes nothing.
    if (!counter) return;
    this.connections.delete(key);
    counter.inUse -= 1;
    if (counter.inUse > 0) return;
    const destinations = this.egress.get(counter.egressAddress);
    destinations?.delete(`${counter.protocol} ${counter.destinationAddress} ${counter.destinationPort}`);
    if (destinations?.size === 0) this.egress.delete(counter.egressAddress);
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
    const destinations = this.egress.get(egressAddress);
    if (!destinations) return { egressAddress, destinations: 0, busiest: [], maxUtilization: 0 };
    const busiest = topOf(destinations.values(), top).map(usageOf);
    return { egressAddress, destinations: destinations.size, busiest, maxUtilization: busiest[0]?.utilization ?? 0 };
  }

  /** Every egress IP with open connections, by address. */
  perEgress(top = DEFAULT_TOP): EgressPortUsage[] {
    return [...this.egress.keys()].sort().map((address) => this.forEgress(address, top));
  }
}

function availableFor(protocol: TransportProtocol): number | undefined {
  switch (protocol) {
    case "tcp":
    case "udp":
    case "sctp":
      return NAT_SOURCE_PORTS;
    case "icmp":
    case "icmpv6":
      return NAT_ICMP_IDS;
    default:
      // The kernel translates other protocols without touching a port: nothing to run out of.
      return undefined;
  }
}

function connectionKey(r: TranslationRecord): string {
  return `${r.protocol} ${r.podAddress} ${r.podPort} ${r.destinationAddress} ${r.destinationPort} ${r.egressAddress} ${r.egressPort}`;
}

function usageOf(counter: Counter): DestinationUsage {
  return {
    destinationAddress: counter.destinationAddress, destinationPort: counter.destinationPort, protocol: counter.protocol,
    inUse: counter.inUse, available: counter.available, utilization: counter.inUse / counter.available,
  };
}

/** a before b: busier first, then a stable order so that equal counts never reorder between scrapes. */
function before(a: Counter, b: Counter): boolean {
  const ua = a.inUse / a.available;
  const ub = b.inUse / b.available;
  if (ua !== ub) return ua > ub;
  if (a.inUse !== b.inUse) return a.inUse > b.inUse;
  if (a.destinationAddress !== b.destinationAddress) return a.destinationAddress < b.destinationAddress;
  if (a.destinationPort !== b.destinationPort) return a.destinationPort < b.destinationPort;
  return a.protocol < b.protocol;
}

/**
 * The `n` first counters in one pass, keeping a sorted array of at most n: O(d·n) worst case, and far less in
 * practice, since after the first n most counters lose to the smallest kept one at the first comparison.
 */
function topOf(counters: Iterable<Counter>, n: number): Counter[] {
  const kept: Counter[] = [];
  if (n <= 0) return kept;
  for (const counter of counters) {
    if (kept.length === n && !before(counter, kept[n - 1] as Counter)) continue;
    let i = kept.length === n ? n - 1 : kept.length;
    if (kept.length < n) kept.push(counter);
    while (i > 0 && before(counter, kept[i - 1] as Counter)) {
      kept[i] = kept[i - 1] as Counter;
      i -= 1;
    }
    kept[i] = counter;
  }
  return kept;
}
