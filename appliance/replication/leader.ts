import type { Logger } from "pino";
import { errorMessage } from "../errors.js";
import type { Store } from "../store/store.js";
import { changesSince, epochOfRevision, exportSnapshot, position, replicationState, setReplicationState } from "./log.js";
import type { PeerClient } from "./peer-client.js";

export type PeerSyncStatus = "unknown" | "in-sync" | "behind" | "unreachable" | "refused";

export interface PeerReport {
  name: string;
  status: PeerSyncStatus;
  revision: number | null;
  lastError: string | null;
}

/**
 * The leader's view of one follower. One sender at a time, always shipping everything from what the
 * follower has acknowledged up to the newest revision, so concurrent writes coalesce instead of racing.
 */
class PeerLink {
  acked: number | undefined;
  /** Whether this follower has heard from us since we became leader (it forwards writes to whoever did). */
  announced = false;
  status: PeerSyncStatus = "unknown";
  lastError: string | null = null;
  private sending = false;
  private again = false;
  private waiters: { revision: number; resolve: (ok: boolean) => void }[] = [];

  constructor(readonly client: PeerClient, private readonly leader: Replicator) {}

  report(): PeerReport {
    return { name: this.client.name, status: this.status, revision: this.acked ?? null, lastError: this.lastError };
  }

  waitFor(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.acked !== undefined && this.acked >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { revision, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs).unref();
      this.kick();
    });
  }

  kick(): void {
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.step();
      } while (this.again && this.leader.isLeader());
    } catch (error) {
      this.lastError = errorMessage(error);
      this.status = /unreachable/.test(this.lastError) ? "unreachable" : "behind";
      this.acked = undefined;
    } finally {
      this.sending = false;
    }
  }

  private async step(): Promise<void> {
    if (!this.leader.isLeader()) return;
    const db = this.leader.store.db;
    const target = position(db).revision;
    if (this.acked === undefined) {
      const state = await this.client.state();
      // Histories agree up to the follower's revision only if we wrote that revision in the same epoch.
      const ours = epochOfRevision(db, state.revision);
      this.acked = state.revision <= target && ours === state.revisionEpoch ? state.revision : -1;
    }
    const { epoch } = replicationState(db);
    if (this.acked === target) {
      if (!this.announced) {
        const base = { revision: target, revisionEpoch: epochOfRevision(db, target) ?? 0 };
        const result = await this.client.pushChanges({ epoch, leader: this.leader.name, base, revisions: [] });
        if (!result.ok) throw new Error(`announcement refused: ${result.status}${result.code ? ` (${result.code})` : ""}`);
        this.announced = true;
      }
      return this.settle("in-sync");
    }
    const changes = this.acked >= 0 ? changesSince(db, this.acked, target) : undefined;
    const base = this.acked >= 0 ? { revision: this.acked, revisionEpoch: epochOfRevision(db, this.acked) ?? 0 } : undefined;
    const result = changes && base
      ? await this.client.pushChanges({ epoch, leader: this.leader.name, base, revisions: changes })
      : await this.client.pushSnapshot({ epoch, leader: this.leader.name, snapshot: exportSnapshot(db) });
    if (result.ok) {
      this.acked = target;
      this.announced = true;
      this.lastError = null;
      return this.settle(position(db).revision === target ? "in-sync" : "behind");
    }
    this.lastError = `peer answered ${result.status}${result.code ? ` (${result.code})` : ""}`;
    if (result.code === "out-of-sync") {
      this.acked = undefined;
      this.again = true;
      this.status = "behind";
      return;
    }
    this.status = "refused";
    if (result.code === "stale-epoch" && result.state) this.leader.observeEpoch(result.state.epoch);
    this.acked = undefined;
  }

  private settle(status: PeerSyncStatus): void {
    this.status = status;
    const acked = this.acked ?? -1;
    this.waiters = this.waiters.filter((w) => {
      if (w.revision > acked) return true;
      w.resolve(true);
      return false;
    });
  }
}

/**
 * Leader/follower configuration replication. The VRRP master leads: every write it commits is pushed to
 * every peer before the API acknowledges it (bounded by a timeout, after which the response and
 * /v1/status name the peers that are behind). Each leadership term has an epoch higher than any seen
 * before; followers refuse older epochs, so a deposed leader cannot overwrite newer state.
 */
export class Replicator {
  private readonly links: PeerLink[];
  private heartbeat: NodeJS.Timeout | undefined;
  private leading = false;

  constructor(
    readonly store: Store,
    readonly name: string,
    peers: PeerClient[],
    /** This gateway's slot among all gateway names, so that two leaders never pick the same epoch. */
    private readonly slot: number,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.links = peers.map((peer) => new PeerLink(peer, this));
  }

  isLeader(): boolean {
    return this.leading;
  }

  peers(): PeerReport[] {
    return this.links.map((link) => link.report());
  }

  /** Called when VRRP makes this gateway master (or at start for a single gateway). */
  async becomeLeader(): Promise<void> {
    const db = this.store.db;
    let highest = replicationState(db).epoch;
    const states = await Promise.allSettled(this.links.map((link) => link.client.state()));
    for (const state of states) if (state.status === "fulfilled") highest = Math.max(highest, state.value.epoch);
    const epoch = (Math.floor(highest / 256) + 1) * 256 + this.slot;
    setReplicationState(db, epoch, this.name);
    this.leading = true;
    this.log.info({ epoch }, "leading configuration replication");
    for (const link of this.links) {
      link.acked = undefined;
      link.announced = false;
      link.kick();
    }
    clearInterval(this.heartbeat);
    // Followers that were down or partitioned catch up by themselves: the leader keeps knocking.
    this.heartbeat = setInterval(() => this.links.forEach((link) => link.kick()), 1_000);
    this.heartbeat.unref();
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
    setReplicationState(db, (Math.floor(epoch / 256) + 1) * 256 + this.slot, this.name);
    this.links.forEach((link) => link.kick());
  }

  /** Pushes `revision` to every peer; resolves with each peer's outcome once all answered or timed out. */
  async replicate(revision: number): Promise<PeerReport[]> {
    if (!this.leading) return this.peers();
    await Promise.all(this.links.map((link) => link.waitFor(revision, this.timeoutMs)));
    return this.peers();
  }

  stop(): void {
    this.stepDown();
  }
}
