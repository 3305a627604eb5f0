import { hostPrefixLength, parseAddress } from "../net/cidr.js";

type Json = Record<string, unknown>;

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/**
 * nft prints an `inet_proto` value by its name in /etc/protocols when there is one (Debian's netbase). Its table,
 * so that a listing reads the same with or without that file; ranges come as numbers.
 */
const PROTOCOLS: Record<string, number> = {
  ip: 0, hopopt: 0, icmp: 1, igmp: 2, ggp: 3, ipencap: 4, st: 5, tcp: 6, egp: 8, igp: 9, pup: 12, udp: 17, hmp: 20,
  "xns-idp": 22, rdp: 27, "iso-tp4": 29, dccp: 33, xtp: 36, ddp: 37, "idpr-cmtp": 38, ipv6: 41, "ipv6-route": 43,
  "ipv6-frag": 44, idrp: 45, rsvp: 46, gre: 47, esp: 50, ah: 51, skip: 57, "ipv6-icmp": 58, "ipv6-nonxt": 59,
  "ipv6-opts": 60, rspf: 73, vmtp: 81, eigrp: 88, ospf: 89, "ax.25": 93, ipip: 94, etherip: 97, encap: 98, pim: 103,
  ipcomp: 108, vrrp: 112, l2tp: 115, isis: 124, sctp: 132, fc: 133, "mobility-header": 135, udplite: 136,
  "mpls-in-ip": 137, manet: 138, hip: 139, shim6: 140, wesp: 141, rohc: 142, ethernet: 143,
};

/** The element type of a set or map as `nft -j` lists it: a name, or a list of names for a concatenation. */
export type SetType = string | readonly string[];

type Kind = "address" | "mac" | "number";

function kindOfType(type: string | undefined): Kind | undefined {
  if (type === "ipv4_addr" || type === "ipv6_addr") return "address";
  if (type === "ether_addr") return "mac";
  if (type === "inet_proto" || type === "inet_service") return "number";
  return undefined;
}

/** Without the set's type, a part's kind is read off its spelling. */
function guessKind(expr: unknown): Kind {
  if (typeof expr === "number") return "number";
  if (typeof expr === "string") return MAC.test(expr) ? "mac" : Object.hasOwn(PROTOCOLS, expr) || /^\d+$/.test(expr) ? "number" : "address";
  const e = expr as Json;
  if (e["range"]) return guessKind((e["range"] as unknown[])[0]);
  return "address";
}

/**
 * One set element's key as comparable text, however nft spells it: a prefix, a bare address, a MAC, a range,
 * a protocol or port (a name from /etc/protocols or a number), a concatenation (parts joined with " . ", as nft
 * prints them), or any of these wrapped with statements (`{elem: {val, counter, timeout}}`). Addresses come out
 * canonical (RFC 5952), an address range that is one whole prefix as that prefix, MACs in lower case, protocols
 * and ports as decimal numbers or `lo-hi`.
 *
 * `hostLength`: interval sets list a single-address prefix (/32, /128) as a bare address, so for them a bare
 * address gets its host length back (never a MAC or a number). Plain sets keep bare addresses bare.
 *
 * `type` (the set's `type` from the listing) says how to read each part; without it the spelling decides.
 */
export function elementKey(expr: unknown, hostLength: boolean, type?: SetType): string {
  const types = type === undefined ? [] : typeof type === "string" ? [type] : type;
  let value = expr;
  while (value && typeof value === "object" && (value as Json)["elem"]) value = ((value as Json)["elem"] as Json)["val"];
  const parts = value && typeof value === "object" && (value as Json)["concat"] ? ((value as Json)["concat"] as unknown[]) : [value];
  return parts.map((part, i) => partText(part, kindOfType(types[i]) ?? guessKind(part), hostLength)).join(" . ");
}

function partText(expr: unknown, kind: Kind, hostLength: boolean): string {
  if (kind === "number") return numberText(expr);
  if (kind === "mac" && typeof expr === "string") return expr.toLowerCase();
  if (typeof expr === "string") {
    const address = canonicalAddress(expr);
    return hostLength ? `${address}/${hostPrefixLength(address)}` : address;
  }
  const e = expr as Json;
  if (e["prefix"]) {
    const prefix = e["prefix"] as { addr: string; len: number };
    return `${canonicalAddress(prefix.addr)}/${prefix.len}`;
  }
  if (e["range"]) {
    const [low, high] = (e["range"] as [string, string]).map((a) => parseAddress(a, "element"));
    return rangeText(low as ReturnType<typeof parseAddress>, high as ReturnType<typeof parseAddress>);
  }
  return JSON.stringify(expr);
}

/** Dotted decimal without leading zeros: already canonical, as nft prints every IPv4 address. */
const CANONICAL_V4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * An address in its canonical text. A listing of 100k elements is 100k addresses, and the full parse (ipaddr.js,
 * BigInt) was most of the readback's own time; an IPv4 address already in canonical form is therefore taken as it is.
 */
export function canonicalAddress(text: string, field = "element"): string {
  return CANONICAL_V4.test(text) ? text : parseAddress(text, field).address;
}

/** nft may list as a range what is one prefix (or one address): the prefix is the one spelling. */
function rangeText(low: ReturnType<typeof parseAddress>, high: ReturnType<typeof parseAddress>): string {
  const size = high.value - low.value + 1n;
  if (size > 0n && (size & (size - 1n)) === 0n && low.value % size === 0n) {
    return `${low.address}/${hostPrefixLength(low.address) - (size.toString(2).length - 1)}`;
  }
  return `${low.address}-${high.address}`;
}

function numberText(expr: unknown): string {
  if (expr && typeof expr === "object" && (expr as Json)["range"]) {
    const [low, high] = ((expr as Json)["range"] as unknown[]).map(numberOf);
    return low === high ? String(low) : `${String(low)}-${String(high)}`;
  }
  return String(numberOf(expr));
}

function numberOf(expr: unknown): number | string {
  if (typeof expr === "number") return expr;
  if (typeof expr === "string") return Object.hasOwn(PROTOCOLS, expr) ? (PROTOCOLS[expr] as number) : (/^\d+$/.test(expr) ? Number(expr) : expr);
  return JSON.stringify(expr);
}
