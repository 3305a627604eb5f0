import type { Logger } from "pino";
import type { ApplyReport } from "../reconcile/reconciler.js";
import type { PeerView } from "../replication/peer-view.js";
import type { HealthFile } from "./health-file.js";

/** Failed passes in a row before this gateway considers its data plane broken. */
export const FAILURES_BEFORE_FAULT = 3;
/** How recent the peer's report must be to count: a few heartbeats (a peer that went silent proves nothing). */
export const PEER_REPORT_MAX_AGE_MS = 5_000;
export const HEALTH_REASON = "data plane apply failing";

export interface ApplyHealthOptions {
  health: HealthFile;
  peerView: PeerView;
  peer: string;
  log: Logger;
}

/**
 * Decides whether failing data-plane applies should fault this gateway (hand the VIPs to the peer).
 * Only when the fault is this gateway's own: its applies keep failing AND the peer reports, recently, a
 * successful apply of the very revision this gateway fails on. When the peer fails too (a configuration
 * every gateway refuses) or says nothing, faulting would only leave nobody holding the VIPs and nobody
 * accepting the write that repairs it; this gateway then stays eligible and reports the failure loudly.
 */
export class ApplyHealthPolicy {
  private failuresInARow = 0;
  private lastFailure: ApplyReport | undefined;
  private faulted = false;
  private reported: string | undefined;
  /** The failure last logged, so that a failure repeating on every retry is logged once. */
  private loggedFailure: string | undefined;

  constructor(private readonly options: ApplyHealthOptions) {}

  onReport(report: ApplyReport): void {
    this.failuresInARow = report.ok ? 0 : this.failuresInARow + 1;
    this.lastFailure = report.ok ? undefined : report;
    this.evaluate();
  }

  /** The peer told us something new about its data plane. */
  onPeerReport(): void {
    if (this.failuresInARow > 0) this.evaluate();
  }

  /** For /v1/status: the failure this gateway reports instead of faulting, if any. */
  warnings(): string[] {
    return this.reported && !this.faulted ? [this.reported] : [];
  }

  private evaluate(): void {
    const failing = this.failuresInARow >= FAILURES_BEFORE_FAULT && this.lastFailure !== undefined;
    const peer = this.options.peerView.get(this.options.peer);
    const peerHealthy = failing && peer !== undefined && peer.ageMs <= PEER_REPORT_MAX_AGE_MS
      && peer.lastApply?.ok === true && peer.lastApply.revision === this.lastFailure?.revision;
    const fault = failing && peerHealthy;
    this.options.health.set(HEALTH_REASON, fault);
    const reported = failing && !fault
      ? `data plane apply failing (${this.failuresInARow} in a row, revision ${this.lastFailure?.revision}: ${this.lastFailure?.error ?? "unknown error"}); `
        + `${this.options.peer} does not report a healthy data plane at that revision, so this gateway stays eligible for mastership`
      : undefined;
    const log = this.options.log;
    if (fault && !this.faulted) log.error({ revision: this.lastFailure?.revision, error: this.lastFailure?.error, peer: this.options.peer },
      "data plane apply keeps failing here while the peer applied the same revision: faulting this gateway so the peer takes over");
    const failure = reported && `${this.lastFailure?.revision}|${this.lastFailure?.error}`;
    if (reported && failure !== this.loggedFailure) log.error({ revision: this.lastFailure?.revision, error: this.lastFailure?.error, peer: this.options.peer }, reported);
    if (!failing && (this.faulted || this.reported)) log.info("data plane applies again");
    this.loggedFailure = failure || undefined;
    this.faulted = fault;
    this.reported = reported;
  }
}
