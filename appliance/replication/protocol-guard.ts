import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { AppError } from "../errors.js";
import {
  incompatiblePeer, protocolHeaders, rangeText, readProtocol, sharedVersion, speaks, type ProtocolRange, type StatedProtocol,
} from "./protocol.js";

export interface ProtocolGuardOptions {
  /** This gateway's name and the peer's (the only one the channel admits). */
  name: string;
  peer: string;
  /** The versions this gateway speaks. */
  range: ProtocolRange;
  log: Logger;
  /** How long a refusal stays in /v1/status's warnings after the last refused message. */
  warningMs?: number;
  /** A monotonic clock in milliseconds (tests pass their own). */
  now?: () => number;
}

/**
 * The receiving side of the protocol version (see protocol.ts): every message on the peer channel passes here
 * first. A message written in a version this gateway speaks is admitted; any other is refused with
 * `incompatible-peer` before its body is read, logged once (not once a second), and named in the warnings
 * while the peer keeps sending such messages.
 */
export class ProtocolGuard {
  private refusal: { error: AppError; at: number } | undefined;
  private logged: string | undefined;
  private seen: ProtocolRange | undefined;
  private readonly now: () => number;

  constructor(private readonly options: ProtocolGuardOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  get range(): ProtocolRange {
    return this.options.range;
  }

  /** What the peer last said it speaks, in its messages or its answers (undefined before either). */
  get peerRange(): ProtocolRange | undefined {
    return this.seen;
  }

  /**
   * What the peer said it speaks in an answer to this gateway's own call (PeerClient): once it shares a version
   * with this gateway, an earlier refusal is over, even if the peer has sent nothing of its own since.
   */
  peerSpeaks(range: ProtocolRange): void {
    this.seen = range;
    if (sharedVersion(this.options.range, range) !== undefined) this.compatible(range);
  }

  /** Checks a message's headers: the version to answer in, or an `incompatible-peer` refusal (thrown). */
  admit(version: string | undefined, accepts: string | undefined): number {
    const { name, peer, range, log } = this.options;
    let stated: StatedProtocol;
    try {
      stated = readProtocol(version, accepts);
    } catch (error) {
      if (error instanceof AppError) this.refused(error, `garbled ${version} ${accepts}`, undefined);
      throw error;
    }
    this.seen = stated.range;
    if (speaks(range, stated.version)) {
      this.compatible(stated.range);
      return stated.version;
    }
    const error = incompatiblePeer({ local: { name, range }, peer: { name: peer, range: stated.range, version: stated.version } });
    if (sharedVersion(range, stated.range) !== undefined) {
      // A newer peer's first message, before it knew what this gateway speaks: it resends in the shared version.
      log.debug({ peer, peerProtocol: stated.range, version: stated.version }, "asked the peer to resend in a version both speak");
      throw error;
    }
    this.refused(error, `${stated.version} ${rangeText(stated.range)}`, stated.range);
    throw error;
  }

  /** The headers of an answer written in `version` (a refusal: this gateway's newest). */
  headers(version = this.options.range.newest): Record<string, string> {
    return protocolHeaders(this.options.range, version);
  }

  /** What /v1/status lists while the peer's messages are being refused. */
  warnings(): string[] {
    const { refusal } = this;
    if (!refusal || this.now() - refusal.at > (this.options.warningMs ?? 60_000)) return [];
    return [`refusing replication messages from ${this.options.peer}: ${refusal.error.message}`];
  }

  private compatible(peerRange: ProtocolRange): void {
    if (this.refusal) this.options.log.info({ peer: this.options.peer, peerProtocol: peerRange, protocol: this.options.range }, "the peer's replication protocol is compatible again");
    this.refusal = undefined;
    this.logged = undefined;
  }

  private refused(error: AppError, key: string, peerRange: ProtocolRange | undefined): void {
    this.refusal = { error, at: this.now() };
    if (this.logged === key) return;
    this.logged = key;
    const { peer, range } = this.options;
    this.options.log.warn({ peer, code: error.code, detail: error.message, protocol: range, ...(peerRange ? { peerProtocol: peerRange } : {}) },
      "refused the peer's replication messages: incompatible replication protocol");
  }
}
