import { hostPrefixLength, parseAddress } from "../net/cidr.js";

type Json = Record<string, unknown>;

/**
 * What a rule does, as one comparable text: the canonical form of its statements. The rendered rule and the
 * rule `nft -j list table` shows both go through here, so whatever still differs is a difference in what the
 * rule does. The rule's comment (its identity, compared on its own: nft lists it as a property of the rule
 * wherever it was written), handle and position are not part of it.
 *
 * nft lists a rule differently from how it was sent (each seen with nft 1.0.6):
 * - an anonymous counter comes back with its live `packets` and `bytes`: they are traffic, not the rule;
 * - protocol numbers come back as names (`meta l4proto 112` is listed as "vrrp");
 * - addresses come back in canonical text, and a /32 or /128 prefix as the bare address;
 * - anonymous sets and flag lists come back sorted, and a one-element set as its element;
 * - hexadecimal values (a mark written "0x10") come back as numbers;
 * - `meta l4proto udp` right before a match on the UDP header is dropped: the header match implies it.
 * Everything else is compared as sent (set references such as "@snat_v4" come back as they went), so an edit
 * nft does not normalise away is always seen; a rule written by hand in another form that nft keeps apart
 * (`ct state { a, b }` for `ct state a,b`, a range for a prefix) counts as drift and is put back as rendered.
 */
export function ruleForm(statements: readonly unknown[] | undefined): string {
  return JSON.stringify(withoutImpliedProtocol((statements ?? []).map(canonical)));
}

/** The protocols nft names when it lists them (from /etc/protocols); a number stands for itself. */
const PROTOCOL_NUMBERS: Record<string, number> = {
  icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, "ipv6-icmp": 58, icmpv6: 58, vrrp: 112, sctp: 132, udplite: 136,
};

/** Left-hand sides whose values are IP protocol numbers. */
const PROTOCOL_KEYS = new Set(['{"meta":{"key":"l4proto"}}', '{"payload":{"field":"protocol","protocol":"ip"}}', '{"payload":{"field":"nexthdr","protocol":"ip6"}}']);

function canonical(value: unknown): unknown {
  if (typeof value === "string") return canonicalString(value);
  // Order matters in lists (statements, concatenations, operands, ranges); only sets are sorted.
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== "object") return value;
  const object = value as Json;
  if ("counter" in object && isAnonymousCounter(object["counter"])) return { counter: null };
  if ("prefix" in object) return canonicalPrefix(object["prefix"] as { addr: string; len: number });
  if (Array.isArray(object["set"])) return canonicalSet(object["set"] as unknown[], true);
  if ("match" in object) return { match: canonicalMatch(object["match"] as Json) };
  return sortedObject(object);
}

/** `counter` alone, or with the values the kernel counted: a named counter or a counter map is kept as is. */
function isAnonymousCounter(counter: unknown): boolean {
  if (counter === null) return true;
  if (typeof counter !== "object" || Array.isArray(counter)) return false;
  return Object.keys(counter as Json).every((key) => key === "packets" || key === "bytes");
}

function canonicalMatch(match: Json): Json {
  const left = canonical(match["left"]);
  // A list on the right is a list of flags (`ct state invalid,untracked`): its order does not matter.
  let right = Array.isArray(match["right"]) ? canonicalSet(match["right"] as unknown[]) : canonical(match["right"]);
  if (PROTOCOL_KEYS.has(JSON.stringify(left))) right = protocolNumber(right);
  return { left, op: match["op"], right };
}

function protocolNumber(value: unknown): unknown {
  if (typeof value === "string") return PROTOCOL_NUMBERS[value] ?? value;
  const set = (value as { set?: unknown[] } | null)?.set;
  return Array.isArray(set) ? { set: set.map(protocolNumber).sort(byText) } : value;
}

function canonicalString(text: string): unknown {
  if (/^0x[0-9a-f]+$/i.test(text)) return Number.parseInt(text, 16);
  if (!/^[0-9a-f:.]+$/i.test(text) || !/[.:]/.test(text)) return text;
  try {
    return parseAddress(text, "rule").address;
  } catch {
    // Not an address after all (e.g. a MAC): compared as written.
    return text;
  }
}

function canonicalPrefix(prefix: { addr: string; len: number }): unknown {
  const addr = canonicalString(prefix.addr);
  if (typeof addr === "string" && prefix.len === hostPrefixLength(addr)) return addr;
  return { prefix: { addr, len: prefix.len } };
}

/** Order does not matter in a set or a flag list; a single element stands alone. */
function canonicalSet(elements: readonly unknown[], anonymousSet = false): unknown {
  const sorted = elements.map(canonical).sort(byText);
  if (sorted.length === 1) return sorted[0];
  return anonymousSet ? { set: sorted } : sorted;
}

const byText = (a: unknown, b: unknown): number => {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

function sortedObject(object: Json): Json {
  return Object.fromEntries(Object.keys(object).sort().map((key) => [key, canonical(object[key])]));
}

/** Drops a `meta l4proto P` match that the next statement's match on P's header implies. */
function withoutImpliedProtocol(statements: unknown[]): unknown[] {
  return statements.filter((statement, i) => {
    const match = (statement as { match?: Json }).match;
    if (!match || match["op"] !== "==" || JSON.stringify(match["left"]) !== '{"meta":{"key":"l4proto"}}') return true;
    const next = (statements[i + 1] as { match?: { left?: unknown } } | undefined)?.match?.left;
    const protocol = (next as { payload?: { protocol?: string } } | undefined)?.payload?.protocol;
    return protocol === undefined || PROTOCOL_NUMBERS[protocol] !== match["right"];
  });
}
