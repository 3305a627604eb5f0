import { parseAddress, type Family } from "../net/cidr.js";
import type { PolicyDestination, PolicyPort, PolicyProtocol } from "../model.js";
import type { Coverage } from "./decompose.js";
import { carve, intersect, normalize, type AddressRange, type NumberRange } from "./intervals.js";

/** An allow or floor rule as far as coverage goes. */
export interface RuleShape {
  destinations: readonly PolicyDestination[];
  protocol?: PolicyProtocol;
  ports: readonly PolicyPort[];
}

/** One address a DNS name resolves to, and until when (ms since the epoch) it is allowed: while now < expiresAt. */
export interface ResolvedAddress {
  /** Canonical text (RFC 5952 for IPv6). */
  address: string;
  expiresAt: number;
}

const PROTOCOL_NUMBER: Record<Exclude<PolicyProtocol, "icmp">, number> = { tcp: 6, udp: 17, sctp: 132 };

export function protocolRanges(protocol: PolicyProtocol | undefined, family: Family): NumberRange[] {
  if (protocol === undefined) return [{ lo: 0, hi: 255 }];
  const value = protocol === "icmp" ? (family === 4 ? 1 : 58) : PROTOCOL_NUMBER[protocol];
  return [{ lo: value, hi: value }];
}

/**
 * Ports count only for a transport protocol: with any protocol, or ICMP, `th dport` reads whatever sits there
 * (the ICMP checksum), so every value must match.
 */
export function portRanges(rule: Pick<RuleShape, "protocol" | "ports">): NumberRange[] {
  if (rule.protocol === undefined || rule.protocol === "icmp" || rule.ports.length === 0) return [{ lo: 0, hi: 65535 }];
  return normalize(rule.ports.map((p) => ({ lo: p.port, hi: p.endPort ?? p.port })));
}

/** The CIDR destinations of one family, excepts carved out, as normalized ranges. */
export function cidrRanges(destinations: readonly PolicyDestination[], family: Family, field: string): AddressRange[] {
  const ranges: AddressRange[] = [];
  destinations.forEach((d, i) => {
    if (d.cidr === undefined) return;
    const carved = carve(d.cidr, d.except ?? [], `${field}[${i}]`);
    if (carved.family === family) ranges.push(...carved.ranges);
  });
  return normalize(ranges);
}

/**
 * A rule's coverage in one family. A DNS address the rule already covers by prefix adds nothing; one answered by
 * several names lives as long as the longest-lived answer.
 */
export function coverageOf(rule: RuleShape, owner: number, family: Family, addressesOf?: (name: string) => readonly ResolvedAddress[]): Coverage {
  const permanent = cidrRanges(rule.destinations, family, `rules[${owner}].destinations`);
  const dns = new Map<bigint, number>();
  if (addressesOf) {
    for (const d of rule.destinations) {
      if (d.name === undefined) continue;
      for (const resolved of addressesOf(d.name)) {
        const value = addressValue(resolved.address, family);
        if (value === undefined || inside(permanent, value)) continue;
        const known = dns.get(value);
        if (known === undefined || resolved.expiresAt > known) dns.set(value, resolved.expiresAt);
      }
    }
  }
  return { owner, permanent, dns, protocols: protocolRanges(rule.protocol, family), ports: portRanges(rule) };
}

/** A resolver's answer of this family, or undefined (other family, or not an address a policy can hold). */
function addressValue(text: string, family: Family): bigint | undefined {
  try {
    const parsed = parseAddress(text, "address");
    return parsed.family === family ? parsed.value : undefined;
  } catch {
    return undefined;
  }
}

function inside(ranges: readonly AddressRange[], value: bigint): boolean {
  return ranges.some((r) => r.lo <= value && value <= r.hi);
}

/** The part of the (address, protocol, port) space two coverages share, as address ranges (empty when none). */
export function sharedAddresses(a: Coverage, b: Coverage): AddressRange[] {
  if (intersect(a.protocols, b.protocols).length === 0 || intersect(a.ports, b.ports).length === 0) return [];
  return intersect(a.permanent, b.permanent);
}
