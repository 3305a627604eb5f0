import ipaddr from "ipaddr.js";
import { parsePrefix, toSortableBytes, type Family } from "../net/cidr.js";

/** An inclusive range of addresses (bigint) or of protocol numbers and ports (number). */
export interface Range<T extends number | bigint> {
  lo: T;
  hi: T;
}

export type AddressRange = Range<bigint>;
export type NumberRange = Range<number>;

export const ADDRESS_BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** Whether `b` starts right after `a` ends (so the two can be one range). */
function adjoins<T extends number | bigint>(a: Range<T>, b: Range<T>): boolean {
  return typeof a.hi === "bigint" ? (a.hi as bigint) + 1n === b.lo : (a.hi as number) + 1 === b.lo;
}

function before<T extends number | bigint>(x: T): T {
  return (typeof x === "bigint" ? x - 1n : (x as number) - 1) as T;
}

function after<T extends number | bigint>(x: T): T {
  return (typeof x === "bigint" ? x + 1n : (x as number) + 1) as T;
}

const byStart = <T extends number | bigint>(a: Range<T>, b: Range<T>): number => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0);

/** Sorted, disjoint and with adjacent ranges joined: the one canonical form every other function expects. */
export function normalize<T extends number | bigint>(ranges: readonly Range<T>[]): Range<T>[] {
  const sorted = [...ranges].sort(byStart);
  const out: Range<T>[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last && (range.lo <= last.hi || adjoins(last, range))) {
      if (range.hi > last.hi) last.hi = range.hi;
    } else {
      out.push({ lo: range.lo, hi: range.hi });
    }
  }
  return out;
}

/** `from` minus `cut`, both normalized. */
export function subtract<T extends number | bigint>(from: readonly Range<T>[], cut: readonly Range<T>[]): Range<T>[] {
  const out: Range<T>[] = [];
  let j = 0;
  for (const range of from) {
    let lo = range.lo;
    while (j < cut.length && (cut[j] as Range<T>).hi < lo) j++;
    let k = j;
    let open = true;
    while (k < cut.length && (cut[k] as Range<T>).lo <= range.hi) {
      const c = cut[k] as Range<T>;
      if (c.lo > lo) out.push({ lo, hi: before(c.lo) });
      if (c.hi >= range.hi) {
        open = false;
        break;
      }
      lo = after(c.hi);
      k++;
    }
    if (open) out.push({ lo, hi: range.hi });
  }
  return out;
}

/** The common part of two normalized lists. */
export function intersect<T extends number | bigint>(a: readonly Range<T>[], b: readonly Range<T>[]): Range<T>[] {
  const out: Range<T>[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as Range<T>;
    const y = b[j] as Range<T>;
    const lo = x.lo > y.lo ? x.lo : y.lo;
    const hi = x.hi < y.hi ? x.hi : y.hi;
    if (lo <= hi) out.push({ lo, hi });
    if (x.hi < y.hi) i++;
    else j++;
  }
  return out;
}

export function sameRanges<T extends number | bigint>(a: readonly Range<T>[], b: readonly Range<T>[]): boolean {
  return a.length === b.length && a.every((r, i) => r.lo === (b[i] as Range<T>).lo && r.hi === (b[i] as Range<T>).hi);
}

/** A prefix's addresses, and the family it belongs to. */
export function prefixRange(cidr: string, field: string): AddressRange & { family: Family } {
  const prefix = parsePrefix(cidr, field);
  return { lo: prefix.start, hi: prefix.end, family: prefix.family };
}

/** A CIDR with carve-outs (an ipBlock) as normalized ranges; excepts of the other family carve nothing. */
export function carve(cidr: string, except: readonly string[], field: string): { family: Family; ranges: AddressRange[] } {
  const whole = prefixRange(cidr, field);
  const cuts = except.map((text, i) => prefixRange(text, `${field}.except[${i}]`)).filter((c) => c.family === whole.family);
  return { family: whole.family, ranges: subtract([{ lo: whole.lo, hi: whole.hi }], normalize(cuts.map(({ lo, hi }) => ({ lo, hi })))) };
}

/** Canonical text of an address given as an integer (RFC 5952 for IPv6). */
export function addressText(value: bigint, family: Family): string {
  // IPv4 by arithmetic: a policy of 10,000 destinations renders each key part here on every change.
  if (family === 4) {
    const n = Number(value);
    return `${Math.floor(n / 16_777_216)}.${Math.floor(n / 65_536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
  }
  const ip = ipaddr.fromByteArray([...toSortableBytes(value, family)]);
  return ip instanceof ipaddr.IPv6 ? ip.toRFC5952String() : ip.toString();
}

/** The prefix length when [lo, hi] is exactly one prefix, else undefined. */
export function prefixLength(range: AddressRange, family: Family): number | undefined {
  const size = range.hi - range.lo + 1n;
  if (size <= 0n || (size & (size - 1n)) !== 0n || range.lo % size !== 0n) return undefined;
  return ADDRESS_BITS[family] - (size.toString(2).length - 1);
}

/** `net/len` when the range is a whole prefix (a single address as /32 or /128), else `lo-hi`: the key text of an address part. */
export function addressRangeText(range: AddressRange, family: Family): string {
  const length = prefixLength(range, family);
  if (length !== undefined) return `${addressText(range.lo, family)}/${length}`;
  return `${addressText(range.lo, family)}-${addressText(range.hi, family)}`;
}

/** The fewest prefixes that exactly cover the range, lowest first. */
export function splitPrefixes(range: AddressRange, family: Family): string[] {
  const bits = ADDRESS_BITS[family];
  const out: string[] = [];
  let lo = range.lo;
  while (lo <= range.hi) {
    let hostBits = 0;
    while (hostBits < bits) {
      const size = 1n << BigInt(hostBits + 1);
      if (lo % size !== 0n || lo + size - 1n > range.hi) break;
      hostBits++;
    }
    out.push(`${addressText(lo, family)}/${bits - hostBits}`);
    lo += 1n << BigInt(hostBits);
  }
  return out;
}

/** `6` or `0-255`: the key text of a protocol or port part. */
export function numberRangeText(range: NumberRange): string {
  return range.lo === range.hi ? String(range.lo) : `${range.lo}-${range.hi}`;
}
