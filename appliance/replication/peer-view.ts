import { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import type { ApplyReport } from "../reconcile/reconciler.js";

/** What the peer last told us about itself, over either direction of the replication channel. */
export interface PeerObservation {
  role: string | null;
  /** The peer's last data-plane apply (revision, ok, error). */
  lastApply: ApplyReport | null;
}

/**
 * The one place that remembers the peer's reported role and data-plane health: the leader learns them
 * from heartbeat answers, a follower from the leader's heartbeats. The fault policy and /v1/status read it.
 */
export class PeerView extends EventEmitter<{ updated: [name: string, observation: PeerObservation] }> {
  private readonly seen = new Map<string, PeerObservation & { at: number }>();

  /** `now` is a monotonic clock in milliseconds (tests pass their own). */
  constructor(private readonly now: () => number = () => performance.now()) {
    super();
  }

  record(name: string, observation: PeerObservation): void {
    this.seen.set(name, { ...observation, at: this.now() });
    this.emit("updated", name, observation);
  }

  /** The last observation and how old it is (monotonic clock), or undefined if the peer never reported. */
  get(name: string): (PeerObservation & { ageMs: number }) | undefined {
    const seen = this.seen.get(name);
    return seen && { role: seen.role, lastApply: seen.lastApply, ageMs: this.now() - seen.at };
  }
}
