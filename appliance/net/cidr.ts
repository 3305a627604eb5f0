import ipaddr from "ipaddr.js";
import { invalidField } from "../errors.js";

export type Family = 4 | 6;

/** A parsed, canonical network prefix. `start`/`end` are the first and last address as integers. */
export interface Prefix {
  family: Family;
  /** Canonical text, e.g. `10.244.1.0/26` or `fd00:10:244::/48`. */
  cidr: string;
  network: string;
  length: number;
  start: bigint;
  end: bigint;
}

export interface Address {
  family: Family;
  /** Canonical text (RFC 5952 for IPv6). */
  address: string;
  value: bigint;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** The length of a prefix that holds exactly one address: 32 for IPv4, 128 for IPv6 (IPv6 text always has a colon). */
export function hostPrefixLength(address: string): number {
  return BITS[address.includes(":") ? 6 : 4];
}

function familyOf(ip: ipaddr.IPv4 | ipaddr.IPv6): Family {
  return ip.kind() === "ipv4" ? 4 : 6;
}

function toBigInt(ip: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  let value = 0n;
  for (const byte of ip.toByteArray()) value = (value << 8n) | BigInt(byte);
  return value;
}

function fromBigInt(value: bigint, family: Family): string {
  const bytes: number[] = [];
  for (let i = BITS[family] / 8 - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  const ip = ipaddr.fromByteArray(bytes);
  return canonicalText(ip);
}

function canonicalText(ip: ipaddr.IPv4 | ipaddr.IPv6): string {
  return ip instanceof ipaddr.IPv6 ? ip.toRFC5952String() : ip.toString();
}

/** Strict parsing: ipaddr.js alone accepts shorthand like `10.1` that no operator means. */
function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (text.includes(":") && ipaddr.IPv6.isValid(text)) {
    const ip = ipaddr.IPv6.parse(text);
    // A zone index ("fe80::1%eth0") is not an address a firewall can trust.
    if (ip.zoneId !== undefined) return undefined;
    return ip;
  }
  return undefined;
}

/** Embedded-IPv4 forms ("::ffff:10.0.0.1", "::1.2.3.4") blur the two families: IPv4 is written as IPv4. */
function refuseEmbeddedIpv4(text: string, field: string): void {
  if (text.includes(":") && text.includes(".")) {
    throw invalidField(field, `"${text}" embeds an IPv4 address in IPv6 notation (IPv4-mapped or compatible); write the IPv4 address instead`);
  }
}

export function parseAddress(text: string, field: string): Address {
  refuseEmbeddedIpv4(text, field);
  const ip = parseIp(text.trim());
  if (!ip) throw invalidField(field, `"${text}" is not an IPv4 or IPv6 address`);
  refuseMapped(ip, text, field);
  return { family: familyOf(ip), address: canonicalText(ip), value: toBigInt(ip) };
}

function refuseMapped(ip: ipaddr.IPv4 | ipaddr.IPv6, text: string, field: string): void {
  if (ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress()) {
    throw invalidField(field, `"${text}" is an IPv4-mapped IPv6 address; write the IPv4 address instead`);
  }
}

const NOT_UNICAST = new Set(["unspecified", "loopback", "multicast", "broadcast"]);

/**
 * Refuses addresses that can never be a host's unicast address (0.0.0.0, ::, loopback, multicast,
 * broadcast): as an egress IP or next hop they would only fail later, in the data plane.
 */
export function requireUnicast(address: Address, field: string, options: { allowLinkLocal: boolean }): void {
  const range = ipaddr.parse(address.address).range();
  if (NOT_UNICAST.has(range) || (!options.allowLinkLocal && range === "linkLocal")) {
    throw invalidField(field, `${address.address} is a ${range} address, not a usable unicast address`);
  }
}

/**
 * Parses `address/length`. A prefix with host bits set is refused rather than silently truncated: the
 * operator may have mistyped the address or the length, and guessing could grant the wrong range.
 */
export function parsePrefix(text: string, field: string): Prefix {
  const slash = text.indexOf("/");
  if (slash < 0) throw invalidField(field, `"${text}" is not in CIDR notation (address/length)`);
  const addressText = text.slice(0, slash).trim();
  const lengthText = text.slice(slash + 1).trim();
  refuseEmbeddedIpv4(addressText, field);
  const ip = parseIp(addressText);
  if (!ip) throw invalidField(field, `"${addressText}" is not an IPv4 or IPv6 address`);
  refuseMapped(ip, text, field);
  const family = familyOf(ip);
  if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > BITS[family]) {
    throw invalidField(field, `prefix length "${lengthText}" must be 0 to ${BITS[family]} for IPv${family}`);
  }
  const length = Number(lengthText);
  const hostBits = BigInt(BITS[family] - length);
  const value = toBigInt(ip);
  const start = (value >> hostBits) << hostBits;
  const end = start | ((1n << hostBits) - 1n);
  const network = fromBigInt(start, family);
  const cidr = `${network}/${length}`;
  if (start !== value) {
    throw invalidField(field, `"${text}" has host bits set; did you mean ${cidr}?`);
  }
  return { family, cidr, network, length, start, end };
}

export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && outer.start <= inner.start && inner.end <= outer.end;
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

export function prefixContainsAddress(prefix: Prefix, address: Address): boolean {
  return prefix.family === address.family && prefix.start <= address.value && address.value <= prefix.end;
}

/**
 * Fixed-width big-endian bytes, so that SQLite's memcmp ordering of BLOBs equals numeric order and range
 * queries on an index work for both families.
 */
export function toSortableBytes(value: bigint, family: Family): Buffer {
  const bytes = Buffer.alloc(BITS[family] / 8);
  let rest = value;
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}

/** Finds the first pair of overlapping prefixes in a list, for validating a whole submitted set. */
export function findOverlap<T>(items: T[], prefixOf: (item: T) => Prefix): [T, T] | undefined {
  const sorted = [...items].sort((x, y) => {
    const a = prefixOf(x);
    const b = prefixOf(y);
    if (a.family !== b.family) return a.family - b.family;
    return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
  });
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1] as T;
    const current = sorted[i] as T;
    if (prefixesOverlap(prefixOf(previous), prefixOf(current))) return [previous, current];
  }
  return undefined;
}

/** An address with its on-link prefix length, as assigned to an interface ("172.31.0.1/24"): host bits allowed. */
export function parseInterfaceAddress(text: string, field: string): Address & { length: number; text: string } {
  const slash = text.indexOf("/");
  const address = parseAddress(slash < 0 ? text : text.slice(0, slash), field);
  const max = BITS[address.family];
  const lengthText = slash < 0 ? String(max) : text.slice(slash + 1).trim();
  if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > max) {
    throw invalidField(field, `prefix length "${lengthText}" must be 0 to ${max} for IPv${address.family}`);
  }
  return { ...address, length: Number(lengthText), text: `${address.address}/${lengthText}` };
}

/** The on-link network of an interface address (10.0.0.7/24 → 10.0.0.0/24). */
export function networkOf(address: string, length: number, field = "address"): Prefix {
  const parsed = parseAddress(address, field);
  const hostBits = BigInt(BITS[parsed.family] - length);
  const start = (parsed.value >> hostBits) << hostBits;
  const network = fromBigInt(start, parsed.family);
  return { family: parsed.family, cidr: `${network}/${length}`, network, length, start, end: start | ((1n << hostBits) - 1n) };
}
