import type { Mapping } from "../model.js";
import { parsePrefix, type Prefix } from "../net/cidr.js";
import type { ConntrackEvent } from "../translation-model.js";

/**
 * An address as a key that compares with `<`: IPv4 as a number, IPv6 as 32 lower-case hex digits (strings of one
 * length compare like the numbers they spell). Measured: per event, a bigint from cidr.ts costs several times a
 * number or a string key, and IPv4 — most traffic — needs no allocation at all.
 */
type Key = number | string;

interface Candidate {
  cluster: string;
  name: string;
  /** Destination prefixes as key ranges; empty: every destination. */
  destinations: [Key, Key][];
  excluded: [Key, Key][];
}

/** Disjoint, sorted address ranges of one egress IP, each with the mappings whose source holds it, most specific first. */
interface SegmentTable {
  starts: Key[];
  ends: Key[];
  candidates: Candidate[][];
}

export interface Owner {
  cluster: string;
  mapping: string;
}

/**
 * Which mapping translated a connection: the one whose source prefix holds the pod address, whose egress IP is the
 * address the kernel translated to, and whose destinations (when it has any) hold the destination and whose
 * excluded destinations do not. Built once per change of the mappings; a lookup is a hash on the egress IP and a
 * binary search over that IP's source ranges, O(log n).
 *
 * Where several mappings fit (one cluster may give a source several mappings), the most specific source prefix
 * wins, then a mapping with destinations over one without, then the lowest (cluster, name): the same answer for
 * the same mappings, whatever order they came in.
 */
export class Attribution {
  private readonly byEgress = new Map<Key, SegmentTable>();

  constructor(mappings: readonly Mapping[]) {
    const groups = new Map<Key, Map<string, { prefix: Prefix; candidates: Candidate[] }>>();
    for (const mapping of mappings) {
      const source = tryPrefix(mapping.sourceCidr);
      const egress = addressKey(mapping.egressIp);
      // A source of the other family than its egress IP could never be translated to it.
      if (!source || egress === undefined || (typeof egress === "number") !== (source.family === 4)) continue;
      const candidate: Candidate = {
        cluster: mapping.cluster,
        name: mapping.name,
        destinations: ranges(mapping.destinations),
        excluded: ranges(mapping.excludedDestinations),
      };
      let bySource = groups.get(egress);
      if (!bySource) groups.set(egress, (bySource = new Map()));
      const group = bySource.get(source.cidr) ?? { prefix: source, candidates: [] };
      group.candidates.push(candidate);
      bySource.set(source.cidr, group);
    }
    for (const [egress, bySource] of groups) this.byEgress.set(egress, segmentTable([...bySource.values()]));
  }

  attribute(event: ConntrackEvent): Owner | null {
    const egress = addressKey(event.egressAddress);
    const table = egress === undefined ? undefined : this.byEgress.get(egress);
    if (!table) return null;
    const pod = addressKey(event.podAddress);
    if (pod === undefined || typeof pod !== typeof egress) return null;
    const index = lastAtOrBelow(table.starts, pod);
    if (index < 0 || (table.ends[index] as Key) < pod) return null;
    const destination = addressKey(event.destinationAddress);
    if (destination === undefined) return null;
    for (const candidate of table.candidates[index] as Candidate[]) {
      if (candidate.destinations.length > 0 && !inRanges(candidate.destinations, destination)) continue;
      if (inRanges(candidate.excluded, destination)) continue;
      return { cluster: candidate.cluster, mapping: candidate.name };
    }
    return null;
  }
}

function tryPrefix(text: string): Prefix | undefined {
  try {
    return parsePrefix(text, "prefix");
  } catch {
    return undefined;
  }
}

function ranges(prefixes: readonly string[]): [Key, Key][] {
  return prefixes.flatMap((text) => {
    const prefix = tryPrefix(text);
    return prefix ? [[bigKey(prefix.start, prefix.family), bigKey(prefix.end, prefix.family)] as [Key, Key]] : [];
  });
}

function inRanges(list: readonly [Key, Key][], key: Key): boolean {
  for (const [start, end] of list) if (typeof start === typeof key && start <= key && key <= end) return true;
  return false;
}

function bigKey(value: bigint, family: 4 | 6): Key {
  return family === 4 ? Number(value) : value.toString(16).padStart(32, "0");
}

/**
 * Cuts nested and disjoint source prefixes into disjoint segments (CIDR prefixes never partly overlap), each listing
 * the candidates of every prefix that holds it, innermost first. A sweep with a stack of the prefixes still open.
 */
function segmentTable(groups: { prefix: Prefix; candidates: Candidate[] }[]): SegmentTable {
  const table: SegmentTable = { starts: [], ends: [], candidates: [] };
  for (const group of groups) group.candidates.sort(byPreference);
  groups.sort((a, b) => (a.prefix.family - b.prefix.family) || compareBig(a.prefix.start, b.prefix.start) || compareBig(b.prefix.end, a.prefix.end));
  const stack: { prefix: Prefix; candidates: Candidate[] }[] = [];
  let cursor = 0n;
  const emit = (from: bigint, to: bigint) => {
    if (from > to || stack.length === 0) return;
    const family = (stack[0] as { prefix: Prefix }).prefix.family;
    table.starts.push(bigKey(from, family));
    table.ends.push(bigKey(to, family));
    table.candidates.push([...stack].reverse().flatMap((g) => g.candidates));
  };
  const closeUpTo = (limit: { family: number; start: bigint } | undefined) => {
    for (let top = stack.at(-1); top && (!limit || top.prefix.family !== limit.family || top.prefix.end < limit.start); top = stack.at(-1)) {
      emit(cursor, top.prefix.end);
      cursor = top.prefix.end + 1n;
      stack.pop();
    }
  };
  for (const group of groups) {
    closeUpTo(group.prefix);
    emit(cursor, group.prefix.start - 1n);
    stack.push(group);
    cursor = group.prefix.start;
  }
  closeUpTo(undefined);
  return table;
}

function byPreference(a: Candidate, b: Candidate): number {
  const specific = Number(b.destinations.length > 0) - Number(a.destinations.length > 0);
  return specific || (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function compareBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The index of the last key ≤ `key`, or -1. Keys of one table are all numbers or all strings. */
function lastAtOrBelow(keys: readonly Key[], key: Key): number {
  let low = 0;
  let high = keys.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if ((keys[mid] as Key) <= key) low = mid + 1;
    else high = mid - 1;
  }
  return high;
}

/** An address in ulogd's (inet_ntop) or the API's spelling as a Key; undefined when it is not an address. */
export function addressKey(text: string): Key | undefined {
  return text.includes(":") ? ipv6Key(text) : ipv4Key(text);
}

function ipv4Key(text: string): number | undefined {
  let value = 0;
  let part = -1;
  let parts = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (part < 0 || part > 255) return undefined;
      value = value * 256 + part;
      part = -1;
      parts++;
    } else if (c >= 48 && c <= 57) {
      part = part < 0 ? c - 48 : part * 10 + (c - 48);
    } else {
      return undefined;
    }
  }
  return parts === 4 ? value : undefined;
}

function ipv6Key(text: string): string | undefined {
  let tail = text;
  let embedded = "";
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    // An IPv4-mapped or -compatible address as inet_ntop writes it: ::ffff:10.0.0.1.
    const v4 = ipv4Key(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    embedded = v4.toString(16).padStart(8, "0");
    tail = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = tail.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined) => (half ? half.split(":") : []);
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  let key = "";
  for (const group of [...head, ...Array<string>(halves.length === 1 ? 0 : missing).fill("0"), ...rest]) {
    if (group.length === 0 || group.length > 4 || !/^[0-9a-fA-F]+$/.test(group)) return undefined;
    key += group.toLowerCase().padStart(4, "0");
  }
  return embedded ? key.slice(0, 24) + embedded : key;
}
