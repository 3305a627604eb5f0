import { AppError } from "../errors.js";

/**
 * The replication protocol's version: which gateways can replicate to each other. Every request and answer on
 * the peer channel carries two headers:
 *
 *   Egw-Replication-Protocol: 2            the version this message is written in
 *   Egw-Replication-Protocol-Accepts: 1-2  every version the sender speaks (oldest-newest)
 *
 * A gateway accepts a message written in any version it speaks and refuses any other (`incompatible-peer`). A
 * sender writes in the newest version both sides speak, learned from the peer's answers. Headers rather than a
 * member of the messages: the first release checks its messages strictly and would refuse a member it does not
 * know, while it ignores headers. A message without the headers comes from that first release: version 1.
 */
export interface ProtocolRange {
  oldest: number;
  newest: number;
}

/**
 * What this release speaks. Version 1 is the first release's (it sends no version); version 2 adds the version
 * headers and the refusal of incompatible peers, with messages of the same shape. The next release that changes
 * a message's shape speaks 3 and keeps 2, so that releases N and N+1 always share a version.
 */
export const REPLICATION_PROTOCOL: ProtocolRange = { oldest: 1, newest: 2 };

/** The version of a message without the headers: the first release, which knew of no versions. */
export const UNVERSIONED_PROTOCOL = 1;

export const PROTOCOL_HEADER = "egw-replication-protocol";
export const PROTOCOL_ACCEPTS_HEADER = "egw-replication-protocol-accepts";

/** "2" for one version, "1-2" for a range. */
export function rangeText(range: ProtocolRange): string {
  return range.oldest === range.newest ? String(range.newest) : `${range.oldest}-${range.newest}`;
}

export function speaks(range: ProtocolRange, version: number): boolean {
  return version >= range.oldest && version <= range.newest;
}

/** The newest version two gateways both speak, or undefined if they share none. */
export function sharedVersion(a: ProtocolRange, b: ProtocolRange): number | undefined {
  const version = Math.min(a.newest, b.newest);
  return version >= Math.max(a.oldest, b.oldest) ? version : undefined;
}

/** The headers a message written in `version` carries from a gateway that speaks `range`. */
export function protocolHeaders(range: ProtocolRange, version: number): Record<string, string> {
  return { [PROTOCOL_HEADER]: String(version), [PROTOCOL_ACCEPTS_HEADER]: `${range.oldest}-${range.newest}` };
}

/** What a message says of its sender's protocol, read from its headers (absent ones mean the first release). */
export interface StatedProtocol {
  /** The version the message is written in. */
  version: number;
  /** The versions the sender speaks. */
  range: ProtocolRange;
}

/**
 * Reads the headers of a message. Neither header: the first release (version 1). A version without a range:
 * a sender that speaks only that version. Garbled values are refused: a peer that cannot state its version
 * cannot be understood.
 */
export function readProtocol(version: string | undefined, accepts: string | undefined): StatedProtocol {
  const stated = version === undefined ? UNVERSIONED_PROTOCOL : parseVersion(version);
  if (stated === undefined) throw new AppError("incompatible-peer", `the peer's ${PROTOCOL_HEADER} header ${JSON.stringify(version)} is not a version number`);
  if (accepts === undefined) return { version: stated, range: { oldest: stated, newest: stated } };
  const match = /^\s*(\d{1,6})\s*-\s*(\d{1,6})\s*$/.exec(accepts);
  const range = match ? { oldest: Number(match[1]), newest: Number(match[2]) } : undefined;
  if (!range || range.oldest < 1 || range.oldest > range.newest || !speaks(range, stated)) {
    throw new AppError("incompatible-peer", `the peer's ${PROTOCOL_ACCEPTS_HEADER} header ${JSON.stringify(accepts)} is not a range OLDEST-NEWEST that holds its version ${stated}`);
  }
  return { version: stated, range };
}

function parseVersion(text: string): number | undefined {
  return /^\s*\d{1,6}\s*$/.test(text) && Number(text) >= 1 ? Number(text) : undefined;
}

export interface ProtocolParties {
  /** This gateway: its name and what it speaks. */
  local: { name: string; range: ProtocolRange };
  /** The peer: its name, what it speaks, and (for a message it sent) the version that message is written in. */
  peer: { name: string; range: ProtocolRange; version?: number };
}

/**
 * The refusal an operator reads on both gateways (the peer's problem document, this gateway's log and status):
 * both names, both versions, and what to do.
 */
export function incompatiblePeer(parties: ProtocolParties): AppError {
  const { local, peer } = parties;
  const shared = sharedVersion(local.range, peer.range);
  const extra = {
    gateway: { name: local.name, protocol: local.range },
    peer: { name: peer.name, protocol: peer.range, ...(peer.version === undefined ? {} : { version: peer.version }) },
  };
  if (shared !== undefined && peer.version !== undefined) {
    // Both speak a version, just not this message's: the sender learns ours from the answer's headers and resends.
    return new AppError("incompatible-peer", `${peer.name} wrote this message in replication protocol version ${peer.version}, `
      + `which ${local.name} does not speak (it speaks ${rangeText(local.range)}); both speak version ${shared}`, { extra: { ...extra, shared } });
  }
  const sent = peer.version === undefined ? "" : ` (this message: version ${peer.version})`;
  const detail = `${peer.name} speaks replication protocol ${rangeText(peer.range)}${sent}, ${local.name} speaks ${rangeText(local.range)}: `
    + "no version in common, so they do not replicate to each other. Gateways interoperate only within one release of each other; "
    + "upgrade the pair one release at a time (docs/high-availability.md#replication-protocol-versions)";
  return new AppError("incompatible-peer", detail, { extra });
}
