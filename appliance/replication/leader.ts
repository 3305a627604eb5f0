import type { Logger } from "pino";
import type { ApplyReport } from "../reconcile/reconciler.js";
import type { Store } from "../store/store.js";
import { DigestCache } from "./digest.js";
import { position, replicationState, setReplicationState } from "./log.js";
import type { PeerClient } from "./peer-client.js";
import { PeerLink, type LinkOwner, type PeerReport, type WaitOutcome } from "./peer-link.js";
import { PeerView } from "./peer-view.js";

export type { PeerReport, PeerSyncStatus, WaitOutcome } from "./peer-link.js";

export interface ReplicatorOptions {
  store: Store;
  name: string;
  peers: PeerClient[];
  /** This gateway's slot among all gateway names, so that two leaders never pick the same epoch. */
  slot: number;
  /** How long an ordinary write waits for each peer. */
  timeoutMs: number;
  /** How long a revocation waits for each peer that is reachable. */
  revocationTimeoutMs: number;
  log: Logger;
  /** This gateway's last data-plane apply, sent with every heartbeat. */
  lastApply?: () => ApplyReport | undefined;
  peerView?: PeerView;
  digests?: DigestCache;
}

/** One peer's answer to a replicated write: the link's report and how the wait for it ended. */
export interface ReplicationOutcome extends PeerReport {
  outcome: WaitOutcome;
}

/**
 * Leader/follower configuration replication. The VRRP master leads: every write it commits is pushed to
 * every peer before the API acknowledges it. An ordinary write waits at most `timeoutMs` per peer, after
 * which the response names the peers that are behind; a revocation waits up to `revocationTimeoutMs` for
 * every peer that is reachable (see api/write.ts). Each leadership term has an epoch higher than any seen
 * before; followers refuse older epochs, so a deposed leader cannot overwrite newer state.
 */
export class Replicator implements LinkOwner {
  readonly digests: DigestCache;
  readonly peerView: PeerView;
  private readonly links: PeerLink[];
  private heartbeat: NodeJS.Timeout | undefined;
  private leading = false;
  /** Wall clock ms at which this term of leadership began. */
  private leadingSinceMs = 0;
  /** The revision at the previous heartbeat tick, and whether the store stayed there for a whole interval. */
  private tickRevision = -1;
  private quiet = false;

  constructor(private readonly options: ReplicatorOptions) {
    this.peerView = options.peerView ?? new PeerView();
    this.digests = options.digests ?? new DigestCache();
    this.links = options.peers.map((peer) => new PeerLink(peer, this));
  }

  get store(): Store {
    return this.options.store;
  }

  get name(): string {
    return this.options.name;
  }

  get log(): Logger {
    return this.options.log;
  }

  isLeader(): boolean {
    return this.leading;
  }

  lastApply(): ApplyReport | undefined {
    return this.options.lastApply?.();
  }

  peers(): PeerReport[] {
    return this.links.map((link) => link.report());
  }

  /**
   * While leading: what each follower last confirmed (revision, wall-clock ms), or since when this gateway has led
   * without hearing from it (`revision` null). Empty while following: a follower's links are stale.
   */
  confirmations(): { peer: string; revision: number | null; atMs: number }[] {
    if (!this.leading) return [];
    return this.links.map((link) => ({
      peer: link.client.name,
      revision: link.confirmed?.revision ?? null,
      atMs: link.confirmed?.atMs ?? this.leadingSinceMs,
    }));
  }

  /** Called when VRRP makes this gateway master (or at start for a single gateway). */
  async becomeLeader(): Promise<void> {
    const db = this.store.db;
    let highest = replicationState(db).epoch;
    const states = await Promise.allSettled(this.links.map((link) => link.client.state()));
    for (const state of states) if (state.status === "fulfilled") highest = Math.max(highest, state.value.epoch);
    const epoch = (Math.floor(highest / 256) + 1) * 256 + this.options.slot;
    setReplicationState(db, epoch, this.name);
    this.leading = true;
    this.leadingSinceMs = Date.now();
    this.log.info({ epoch }, "leading configuration replication");
    for (const link of this.links) {
      link.acked = undefined;
      // A previous term's confirmation is not this term's: its revision may predate what the follower wrote while
      // it led, and its time would make the follower look silent since then. Until it confirms, leadingSince counts.
      link.confirmed = undefined;
      link.announced = false;
      link.kick();
    }
    clearInterval(this.heartbeat);
    // Followers that were down or partitioned catch up by themselves, and followers in sync prove it.
    this.heartbeat = setInterval(() => this.tick(), 1_000);
    this.heartbeat.unref();
  }

  /**
   * The digest for a heartbeat: computed at most once per revision, and never on the write path. While
   * writes keep coming it is not computed at all (null: each write is replicated anyway); once the store
   * has been quiet for a whole heartbeat interval, every heartbeat carries it. A full digest of 100k
   * mappings costs a few hundred milliseconds of the event loop, which a write stream must not pay each second.
   */
  heartbeatDigest(): string | null {
    const db = this.store.db;
    return this.digests.peek(db) ?? (this.quiet ? this.digests.of(db).digest : null);
  }

  private tick(): void {
    const revision = position(this.store.db).revision;
    this.quiet = revision === this.tickRevision;
    this.tickRevision = revision;
    this.links.forEach((link) => link.beat());
  }

  stepDown(): void {
    if (!this.leading) return;
    this.leading = false;
    clearInterval(this.heartbeat);
    this.log.info("no longer leading configuration replication");
  }

  /** A follower told us of a newer epoch: take a higher one, since VRRP still says we are master. */
  observeEpoch(epoch: number): void {
    const db = this.store.db;
    const current = replicationState(db).epoch;
    if (epoch < current || !this.leading) return;
    setReplicationState(db, (Math.floor(epoch / 256) + 1) * 256 + this.options.slot, this.name);
    this.links.forEach((link) => link.kick());
  }

  /**
   * Pushes `revision` to every peer; resolves with each peer's outcome once all answered or timed out.
   * A revocation waits longer, but only for peers that are reachable: an unreachable one ends its wait.
   */
  async replicate(revision: number, kind: "write" | "revocation" = "write"): Promise<ReplicationOutcome[]> {
    const revocation = kind === "revocation";
    const timeoutMs = revocation ? this.options.revocationTimeoutMs : this.options.timeoutMs;
    const outcomes = this.leading
      ? await Promise.all(this.links.map((link) => link.waitFor(revision, timeoutMs, revocation)))
      : this.links.map((link): WaitOutcome => ((link.acked ?? -1) >= revision ? "confirmed" : link.status === "unreachable" ? "unreachable" : "timeout"));
    return this.links.map((link, i) => ({ ...link.report(), outcome: outcomes[i] ?? "timeout" }));
  }

  stop(): void {
    this.stepDown();
  }
}
