import { TRANSPORT_PROTOCOLS, type TransportProtocol } from "../translation-model.js";

/** What the data plane's log statement said of the connection: its prefix names the verdict. */
export type PolicyVerdict = "denied" | "audited" | "floor-denied";

/** The log prefixes the data plane writes (nft `log group G prefix P`), and the verdict each stands for. */
export const POLICY_LOG_PREFIXES: Readonly<Record<string, PolicyVerdict>> = {
  "egw-policy-deny": "denied",
  "egw-policy-audit": "audited",
  "egw-floor-deny": "floor-denied",
};

/** The first packet of a connection a policy or floor refused (or, in audit mode, would have refused). */
export interface PolicyLogEvent {
  verdict: PolicyVerdict;
  /** When the kernel logged the packet (ms epoch). */
  atMs: number;
  family: 4 | 6;
  source: string;
  destination: string;
  protocol: TransportProtocol;
  protocolNumber: number;
  /** TCP, UDP and SCTP only; null for ICMP and anything else without ports. */
  sourcePort: number | null;
  destinationPort: number | null;
}

/**
 * One line of the policy log's ulogd output (2.0.8, stack NFLOG → BASE → IFINDEX → IP2STR → JSON), the keys it
 * uses for what an event needs. The JSON plugin renames ip.saddr.str/ip.daddr.str to src_ip/dest_ip and
 * tcp/udp/sctp .sport/.dport to src_port/dest_port. Lines captured from a real ulogd are in
 * test/unit/fixtures/ulogd-policy/.
 */
interface UlogdPacketLine {
  "oob.prefix"?: unknown;
  "oob.family"?: unknown;
  "oob.time.sec"?: unknown;
  "oob.time.usec"?: unknown;
  "ip.protocol"?: unknown;
  src_ip?: unknown;
  dest_ip?: unknown;
  src_port?: unknown;
  dest_port?: unknown;
}

const AF_INET = 2;
const AF_INET6 = 10;
const PORTED: ReadonlySet<TransportProtocol> = new Set(["tcp", "udp", "sctp"]);

const isUint = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value >= 0;
const port = (value: unknown): number | null => (isUint(value) && value <= 65_535 ? value : null);

/**
 * Parses one line of ulogd's output. Undefined for anything that is not a packet the data plane logged for a
 * policy: not JSON, another prefix (the group is shared with someone else's rule), or a packet without
 * addresses. `nowMs` stands in for the time when the kernel gave none.
 */
export function parsePolicyLogLine(line: string, nowMs: number): PolicyLogEvent | undefined {
  let raw: UlogdPacketLine;
  try {
    raw = JSON.parse(line) as UlogdPacketLine;
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  // The kernel passes the prefix as written; a rule author's trailing space must not hide the verdict.
  const prefix = raw["oob.prefix"];
  const verdict = typeof prefix === "string" ? POLICY_LOG_PREFIXES[prefix.trim()] : undefined;
  if (verdict === undefined) return undefined;
  const familyCode = raw["oob.family"];
  const family = familyCode === AF_INET ? 4 : familyCode === AF_INET6 ? 6 : undefined;
  const source = raw.src_ip;
  const destination = raw.dest_ip;
  const protocolNumber = raw["ip.protocol"];
  if (family === undefined || typeof source !== "string" || typeof destination !== "string") return undefined;
  if (!isUint(protocolNumber) || protocolNumber > 255) return undefined;
  const protocol = TRANSPORT_PROTOCOLS[protocolNumber] ?? "other";
  const ported = PORTED.has(protocol);
  const sec = raw["oob.time.sec"];
  const usec = raw["oob.time.usec"];
  return {
    verdict,
    atMs: isUint(sec) ? sec * 1000 + (isUint(usec) ? Math.floor(usec / 1000) : 0) : nowMs,
    family,
    source,
    destination,
    protocol,
    protocolNumber,
    sourcePort: ported ? port(raw.src_port) : null,
    destinationPort: ported ? port(raw.dest_port) : null,
  };
}

/** An event and the mapping whose source range holds its source; null for both when none does. */
export interface AttributedPolicyEvent extends PolicyLogEvent {
  cluster: string | null;
  mapping: string | null;
}
