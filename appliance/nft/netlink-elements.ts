import { parseAddress } from "../net/cidr.js";
import type { NftMessage } from "../system/netlink.js";
import { kernelTimeoutSeconds } from "./policy-elements.js";
import { KERNEL_EXPIRY_GRACE_MS, SET_SPECS } from "./ruleset.js";
import type { NftState, SetName, StateChanges } from "./state.js";

/**
 * Element and counter changes as nf_tables netlink messages, byte for byte what nft 1.0.6 sends for the same
 * `add element` / `delete element` / `add counter` / `delete counter` (seen with `nft --debug=netlink,mnl`), so the
 * kernel ends up holding exactly what the nft path would have left, and nft lists it the same way.
 *
 * Encoded: every set and map of our table (address, MAC, protocol and port parts, prefixes and ranges, address,
 * counter and verdict data, timeouts) and named counters. What does not fit (a verdict or a key of a kind not known
 * here) makes the whole change `undefined`, and it goes through nft whole.
 */

const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFT_MSG_NEWOBJ = 18;
const NFT_MSG_DELOBJ = 20;
const NFPROTO_INET = 1;
const NLM_F_CREATE = 0x400;

const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_SET_ELEM_FLAGS = 3;
const NFTA_SET_ELEM_TIMEOUT = 4;
const NFTA_SET_ELEM_USERDATA = 6;
const NFTA_SET_ELEM_OBJREF = 9;
const NFTA_SET_ELEM_KEY_END = 10;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
/** NF_DROP, NF_ACCEPT and nf_tables' own verdicts (negative, sent as their 32-bit two's complement). */
const VERDICT_CODES: Record<string, number> = { drop: 0, accept: 1, continue: -1, return: -5, jump: -3, goto: -4 };
const NFT_SET_ELEM_INTERVAL_END = 1;
const NFTA_OBJ_TABLE = 1;
const NFTA_OBJ_NAME = 2;
const NFTA_OBJ_TYPE = 3;
const NFTA_OBJ_DATA = 4;
const NFT_OBJECT_COUNTER = 1;
const NFTA_COUNTER_BYTES = 1;
const NFTA_COUNTER_PACKETS = 2;
const NLA_F_NESTED = 0x8000;
/**
 * nft's element user data: NFTNL_UDATA_SET_ELEM_FLAGS = NFTNL_SET_ELEM_F_INTERVAL_OPEN, on an interval that runs to
 * the top of the address space (it has no end element). Only nft reads it, to list such an element as a prefix.
 */
const INTERVAL_OPEN = Buffer.from([1, 4, 1, 0, 0, 0]);
/** A nested attribute's length is 16 bits: a batch of many elements goes as several messages. */
const MAX_ELEMENTS_BYTES = 60_000;

const WIDTH: Record<string, number> = { ipv4_addr: 4, ipv6_addr: 16, ether_addr: 6, inet_proto: 1, inet_service: 2 };

export function attr(type: number, payload: Buffer): Buffer {
  const length = 4 + payload.length;
  const b = Buffer.alloc((length + 3) & ~3);
  b.writeUInt16LE(length, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}
const nested = (type: number, parts: readonly Buffer[]): Buffer => attr(type | NLA_F_NESTED, Buffer.concat(parts));
const text = (s: string): Buffer => Buffer.from(`${s}\0`);
const be32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const be64 = (n: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b; };

function bytesOf(value: bigint, width: number): Buffer {
  const b = Buffer.alloc(width);
  for (let i = width - 1, v = value; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn);
  return b;
}

/** Each part of a concatenation takes a multiple of 4 bytes (NFT_REG32), as the kernel's registers do. */
const padded = (b: Buffer): Buffer => (b.length % 4 === 0 ? b : Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]));

/**
 * The first and last value of one key part ("net/len", "lo-hi", a bare address, a MAC, a number), or undefined for
 * what is not one of these.
 */
function partRange(part: string, type: string): { low: bigint; high: bigint } | undefined {
  if (type === "ether_addr") {
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(part)) return undefined;
    const value = BigInt(`0x${part.replace(/:/g, "")}`);
    return { low: value, high: value };
  }
  const top = (1n << BigInt((WIDTH[type] as number) * 8)) - 1n;
  // Addresses or numbers: IPv6 text has no "-", so the first one splits a range.
  const dash = part.indexOf("-");
  if (type === "inet_proto" || type === "inet_service") {
    const [low, high] = (dash < 0 ? [part, part] : [part.slice(0, dash), part.slice(dash + 1)]).map((n) => (/^\d{1,5}$/.test(n) ? BigInt(n) : -1n)) as [bigint, bigint];
    return low < 0n || high < low || high > top ? undefined : { low, high };
  }
  if (type !== "ipv4_addr" && type !== "ipv6_addr") return undefined;
  const address = (text: string) => {
    const a = parseAddress(text, "element");
    return (a.family === 4) === (type === "ipv4_addr") ? a.value : undefined;
  };
  if (dash >= 0) {
    const [low, high] = [address(part.slice(0, dash)), address(part.slice(dash + 1))];
    return low === undefined || high === undefined || high < low ? undefined : { low, high };
  }
  const slash = part.indexOf("/");
  const value = address(slash < 0 ? part : part.slice(0, slash));
  if (value === undefined) return undefined;
  const hostBits = BigInt(slash < 0 ? 0 : (WIDTH[type] as number) * 8 - Number(part.slice(slash + 1)));
  const low = (value >> hostBits) << hostBits;
  return { low, high: low | ((1n << hostBits) - 1n) };
}

interface Layout {
  types: readonly string[];
  data: "address" | "counter" | "verdict" | undefined;
  dataWidth: number;
  interval: boolean;
}

/** How a set's elements are laid out, read off its definition; undefined for what is not encoded here. */
function layoutOf(name: SetName): Layout | undefined {
  const spec = SET_SPECS[name];
  const types = typeof spec.type === "string" ? [spec.type] : spec.type;
  const flags = spec.flags ?? [];
  if (!types.every((t) => t in WIDTH)) return undefined;
  // Timeouts are sent (and seen sent by nft) only for concatenations, the one kind of set that has them.
  if (flags.some((f) => f !== "interval" && !(f === "timeout" && types.length > 1))) return undefined;
  const data = spec.map === undefined ? undefined : spec.map === "counter" || spec.map === "verdict" ? spec.map : spec.map in WIDTH ? "address" : null;
  if (data === null) return undefined;
  return { types, data, dataWidth: spec.map === undefined ? 0 : (WIDTH[spec.map] ?? 0), interval: flags.includes("interval") };
}

interface Entry {
  key: string;
  parts: { low: bigint; high: bigint }[];
  /** The element's data as attributes (address, counter or verdict); none for a plain set. */
  data: Buffer[];
  /** The kernel's timeout in ms, for an element that expires. */
  timeoutMs?: number;
}

/**
 * The messages for `changes` (taking the table to `to`): counters first, then removals, then additions, then the
 * counters that go, like renderChanges. Undefined when any of it is not encoded here.
 */
export function encodeChanges(table: string, changes: StateChanges, to: NftState, nowMs = Date.now()): NftMessage[] | undefined {
  const removals: NftMessage[] = [];
  const additions: NftMessage[] = [];
  for (const change of changes.sets) {
    const layout = layoutOf(change.name);
    if (!layout) return undefined;
    const expiries = to.expiries?.[change.name];
    const removed = entries(change.removed, layout, () => undefined);
    const added = entries(change.added, layout, (key) => {
      const expiresAt = expiries?.get(key);
      return expiresAt === undefined ? undefined : kernelTimeoutSeconds(expiresAt, nowMs, KERNEL_EXPIRY_GRACE_MS) * 1000;
    });
    if (!removed || !added) return undefined;
    const emptyBefore = to.sets[change.name].size - change.added.length + change.removed.length === 0;
    removals.push(...elementMessages("delete", table, change.name, layout, removed, false));
    additions.push(...elementMessages("add", table, change.name, layout, added, emptyBefore));
  }
  return [
    ...changes.counters.added.map((name) => counterMessage("add", table, name)),
    ...removals,
    ...additions,
    ...changes.counters.removed.map((name) => counterMessage("delete", table, name)),
  ];
}

function entries(list: readonly [string, string][], layout: Layout, timeoutMs: (key: string) => number | undefined): Entry[] | undefined {
  const out: Entry[] = [];
  for (const [key, value] of list) {
    const texts = key.split(" . ");
    if (texts.length !== layout.types.length) return undefined;
    const parts = texts.map((t, i) => partRange(t, layout.types[i] as string));
    const data = dataAttrs(layout, value);
    if (parts.some((p) => p === undefined) || !data) return undefined;
    const timeout = timeoutMs(key);
    out.push({ key, parts: parts as Entry["parts"], data, ...(timeout === undefined ? {} : { timeoutMs: timeout }) });
  }
  return out;
}

function elementMessages(verb: "add" | "delete", table: string, set: SetName, layout: Layout, list: Entry[], emptyBefore: boolean): NftMessage[] {
  if (list.length === 0) return [];
  const elements = layout.types.length === 1 && layout.interval
    ? rangeElements(verb, layout, list, emptyBefore)
    : list.map((e) => concatElement(verb, layout, e));
  const messages: NftMessage[] = [];
  for (let i = 0; i < elements.length;) {
    const chunk: Buffer[] = [];
    let bytes = 0;
    while (i < elements.length && (chunk.length === 0 || bytes + (elements[i] as Buffer[])[0]!.length < MAX_ELEMENTS_BYTES)) {
      const [element] = elements[i] as Buffer[];
      bytes += (element as Buffer).length;
      chunk.push(element as Buffer);
      i++;
    }
    // nft numbers the elements of a list 1, 2, … (the kernel does not read the number).
    const numbered = chunk.map((element, n) => { const b = Buffer.from(element); b.writeUInt16LE((n + 1) | NLA_F_NESTED, 2); return b; });
    messages.push({
      type: verb === "add" ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
      flags: verb === "add" ? NLM_F_CREATE : 0,
      family: NFPROTO_INET,
      body: Buffer.concat([attr(NFTA_SET_ELEM_LIST_TABLE, text(table)), attr(NFTA_SET_ELEM_LIST_SET, text(set)), nested(NFTA_SET_ELEM_LIST_ELEMENTS, numbered)]),
      label: `${verb} ${list[0]!.key}${list.length > 1 ? ` and ${list.length - 1} more` : ""} ${verb === "add" ? "to" : "from"} ${set}`,
    });
  }
  return messages;
}

const element = (attrs: readonly Buffer[]): Buffer[] => [nested(1, attrs)];

/**
 * A single-field interval set holds each range as two elements: its first value (with the data), and the value after
 * its last flagged as an interval end. A range that runs to the top of the address space has no end element and is
 * marked open instead. Sorted by address as nft sends them. When the set was empty, nft adds an end element at zero
 * in front (the "first segment"): so does this, for the kernel to hold the same.
 */
function rangeElements(verb: "add" | "delete", layout: Layout, list: Entry[], emptyBefore: boolean): Buffer[][] {
  const type = layout.types[0] as string;
  const width = WIDTH[type] as number;
  const top = (1n << BigInt(width * 8)) - 1n;
  const sorted = [...list].sort((a, b) => (a.parts[0]!.low < b.parts[0]!.low ? -1 : a.parts[0]!.low > b.parts[0]!.low ? 1 : 0));
  const out: Buffer[][] = [];
  const key = (value: bigint) => nested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, bytesOf(value, width))]);
  const end = (value: bigint) => element([attr(NFTA_SET_ELEM_FLAGS, be32(NFT_SET_ELEM_INTERVAL_END)), key(value)]);
  if (verb === "add" && emptyBefore && sorted.length > 0 && sorted[0]!.parts[0]!.low !== 0n) out.push(end(0n));
  for (const entry of sorted) {
    const { low, high } = entry.parts[0] as { low: bigint; high: bigint };
    const open = high === top;
    out.push(element([key(low), ...(verb === "add" ? entry.data : []), ...(open ? [attr(NFTA_SET_ELEM_USERDATA, INTERVAL_OPEN)] : [])]));
    if (!open) out.push(end(high + 1n));
  }
  return out;
}

/** A concatenation (or a plain key) is one element: its first and, for intervals, its last value of every part. */
function concatElement(verb: "add" | "delete", layout: Layout, entry: Entry): Buffer[] {
  const value = (which: "low" | "high") => Buffer.concat(entry.parts.map((p, i) => padded(bytesOf(p[which], WIDTH[layout.types[i] as string] as number))));
  const attrs: Buffer[] = [];
  // nft puts the timeout first.
  if (verb === "add" && entry.timeoutMs !== undefined) attrs.push(attr(NFTA_SET_ELEM_TIMEOUT, be64(BigInt(entry.timeoutMs))));
  attrs.push(nested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, value("low"))]));
  if (layout.interval) attrs.push(nested(NFTA_SET_ELEM_KEY_END, [attr(NFTA_DATA_VALUE, value("high"))]));
  if (verb === "add") attrs.push(...entry.data);
  return element(attrs);
}

/** The data of an element as attributes: an address, a named counter, a verdict (as nft's JSON spells it). */
function dataAttrs(layout: Layout, value: string): Buffer[] | undefined {
  if (layout.data === "counter") return [attr(NFTA_SET_ELEM_OBJREF, text(value))];
  if (layout.data === "address") return [nested(NFTA_SET_ELEM_DATA, [attr(NFTA_DATA_VALUE, bytesOf(parseAddress(value, "value").value, layout.dataWidth))])];
  if (layout.data === "verdict") {
    const verdict = verdictAttrs(value);
    return verdict && [nested(NFTA_SET_ELEM_DATA, [nested(NFTA_DATA_VERDICT, verdict)])];
  }
  return [];
}

/** `{"accept":null}`, `{"jump":{"target":"chain"}}`, …: the verdict code, and the chain of a jump or goto. */
function verdictAttrs(value: string): Buffer[] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!json || typeof json !== "object") return undefined;
  const entries = Object.entries(json as Record<string, unknown>);
  if (entries.length !== 1) return undefined;
  const [verb, argument] = entries[0] as [string, unknown];
  const code = VERDICT_CODES[verb];
  if (code === undefined) return undefined;
  if (verb === "jump" || verb === "goto") {
    const target = (argument as { target?: unknown } | null)?.target;
    return typeof target === "string" ? [attr(NFTA_VERDICT_CODE, be32(code)), attr(NFTA_VERDICT_CHAIN, text(target))] : undefined;
  }
  return argument === null ? [attr(NFTA_VERDICT_CODE, be32(code))] : undefined;
}

/** A named counter, created at zero or deleted (nft sends an empty data attribute with the delete). */
function counterMessage(verb: "add" | "delete", table: string, name: string): NftMessage {
  const data = verb === "add" ? [attr(NFTA_COUNTER_BYTES, be64(0n)), attr(NFTA_COUNTER_PACKETS, be64(0n))] : [];
  return {
    type: verb === "add" ? NFT_MSG_NEWOBJ : NFT_MSG_DELOBJ,
    flags: verb === "add" ? NLM_F_CREATE : 0,
    family: NFPROTO_INET,
    body: Buffer.concat([attr(NFTA_OBJ_TABLE, text(table)), attr(NFTA_OBJ_NAME, text(name)), attr(NFTA_OBJ_TYPE, be32(NFT_OBJECT_COUNTER)), nested(NFTA_OBJ_DATA, data)]),
    label: `${verb} counter ${name}`,
  };
}
