import { TRANSPORT_PROTOCOLS, type ConntrackEvent, type TrafficCounters } from "../translation-model.js";

/**
 * One line of ulogd's JSON spool, read as its output plugin writes it (ulogd 2.0.8, stack NFCT → IP2STR → JSON).
 * The plugin renames orig.ip.saddr.str/orig.ip.daddr.str to src_ip/dest_ip; the reply direction keeps its names.
 * Lines as captured on a real gateway are in test/unit/fixtures/ulogd/.
 */
interface UlogdLine {
  "ct.event"?: unknown;
  "ct.id"?: unknown;
  "oob.family"?: unknown;
  "orig.ip.protocol"?: unknown;
  "orig.l4.sport"?: unknown;
  "orig.l4.dport"?: unknown;
  "reply.l4.dport"?: unknown;
  src_ip?: unknown;
  dest_ip?: unknown;
  "reply.ip.daddr.str"?: unknown;
  "flow.start.sec"?: unknown;
  "flow.start.usec"?: unknown;
  "flow.end.sec"?: unknown;
  "flow.end.usec"?: unknown;
  "orig.raw.pktcount"?: unknown;
  "orig.raw.pktlen"?: unknown;
  "reply.raw.pktcount"?: unknown;
  "reply.raw.pktlen"?: unknown;
}

/**
 * What one line is: a translation event; a line to skip (an untranslated connection — its reply goes back to the
 * pod's own address — or an event kind other than NEW/DESTROY); or a line that is not ulogd's (counted apart,
 * because it means a bug or a damaged spool, not traffic).
 */
export type ParsedLine =
  | { kind: "event"; event: ConntrackEvent }
  | { kind: "skipped" }
  | { kind: "malformed"; reason: string };

/** ulogd's ct.event bits (NFCT's IPFIX-style enumeration). */
const CT_EVENT_NEW = 1;
const CT_EVENT_DESTROY = 4;
const AF_INET = 2;
const AF_INET6 = 10;

const SKIPPED: ParsedLine = { kind: "skipped" };

const isUint = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value >= 0;
const port = (value: unknown): number => (isUint(value) && value <= 65_535 ? value : 0);
const count = (value: unknown): number => (isUint(value) ? value : 0);

function malformed(reason: string): ParsedLine {
  return { kind: "malformed", reason };
}

function millis(sec: unknown, usec: unknown): number | undefined {
  if (!isUint(sec)) return undefined;
  return sec * 1000 + (isUint(usec) ? Math.floor(usec / 1000) : 0);
}

/**
 * Parses one spool line (without its newline). `nowMs` stands in for the start when the kernel gave no timestamp
 * (net.netfilter.nf_conntrack_timestamp off).
 *
 * Ports: TCP, UDP and SCTP carry theirs; ICMP and ICMPv6 get 0 on both sides. ulogd's NFCT gives no echo
 * identifier for ICMP (only icmp.type/icmp.code, and for ICMPv6 not even those — seen on 2.0.8), so an ICMP
 * translation is found by egress address and time alone.
 */
export function parseUlogdLine(line: string, nowMs: number): ParsedLine {
  let raw: UlogdLine;
  try {
    raw = JSON.parse(line) as UlogdLine;
  } catch {
    return malformed("not JSON");
  }
  if (typeof raw !== "object" || raw === null) return malformed("not a JSON object");
  const eventBits = raw["ct.event"];
  if (!isUint(eventBits)) return malformed("no ct.event");
  if (eventBits !== CT_EVENT_NEW && eventBits !== CT_EVENT_DESTROY) return SKIPPED;
  const podAddress = raw.src_ip;
  const destinationAddress = raw.dest_ip;
  const egressAddress = raw["reply.ip.daddr.str"];
  if (typeof podAddress !== "string" || typeof destinationAddress !== "string" || typeof egressAddress !== "string") {
    return malformed("no addresses (is IP2STR in the stack?)");
  }
  // The reply comes back to the pod itself: the kernel did not translate this connection.
  if (egressAddress === podAddress) return SKIPPED;
  const conntrackId = raw["ct.id"];
  if (!isUint(conntrackId) || conntrackId > 0xffff_ffff) return malformed("no ct.id");
  const familyCode = raw["oob.family"];
  const family = familyCode === AF_INET ? 4 : familyCode === AF_INET6 ? 6 : undefined;
  if (family === undefined) return malformed("unknown oob.family");
  const protocolNumber = raw["orig.ip.protocol"];
  if (!isUint(protocolNumber) || protocolNumber > 255) return malformed("no orig.ip.protocol");
  const protocol = TRANSPORT_PROTOCOLS[protocolNumber] ?? "other";
  const hasPorts = protocol === "tcp" || protocol === "udp" || protocol === "sctp" || raw["orig.l4.sport"] !== undefined;

  const startMs = millis(raw["flow.start.sec"], raw["flow.start.usec"]) ?? nowMs;
  const event: ConntrackEvent = {
    kind: eventBits === CT_EVENT_NEW ? "new" : "destroy",
    conntrackId,
    protocol,
    protocolNumber,
    family,
    podAddress,
    podPort: hasPorts ? port(raw["orig.l4.sport"]) : 0,
    destinationAddress,
    destinationPort: hasPorts ? port(raw["orig.l4.dport"]) : 0,
    egressAddress,
    egressPort: hasPorts ? port(raw["reply.l4.dport"]) : 0,
    startMs,
  };
  if (event.kind === "destroy") {
    event.endMs = millis(raw["flow.end.sec"], raw["flow.end.usec"]) ?? nowMs;
    event.counters = counters(raw);
  }
  return { kind: "event", event };
}

/** orig.raw.pktlen is bytes, despite its name (conntrack accounting: CTA_COUNTERS_BYTES). */
function counters(raw: UlogdLine): TrafficCounters {
  return {
    originalPackets: count(raw["orig.raw.pktcount"]),
    originalBytes: count(raw["orig.raw.pktlen"]),
    replyPackets: count(raw["reply.raw.pktcount"]),
    replyBytes: count(raw["reply.raw.pktlen"]),
  };
}
