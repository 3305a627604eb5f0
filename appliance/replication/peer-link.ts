import type { Logger } from "pino";
import { AppError, errorMessage, type ErrorCode } from "../errors.js";
import type { ApplyReport } from "../reconcile/reconciler.js";
import type { Store } from "../store/store.js";
import { changesSince, epochOfRevision, exportSnapshot, position, replicationState } from "./log.js";
import type { PeerClient, PeerState, PushResult } from "./peer-client.js";
import type { PeerView } from "./peer-view.js";

/** `incompatible`: the peer speaks no replication protocol version this gateway speaks; nothing is sent to it. */
export type PeerSyncStatus = "unknown" | "in-sync" | "behind" | "unreachable" | "refused" | "incompatible";

export interface PeerReport {
  name: string;
  status: PeerSyncStatus;
  revision: number | null;
  lastError: string | null;
}

/** How a wait for one peer ended: it has the revision, it could not be reached, or it was reachable but did not confirm in time. */
export type WaitOutcome = "confirmed" | "unreachable" | "timeout";

/** What a link needs from the leader that owns it. */
export interface LinkOwner {
  store: Store;
  name: string;
  /** The digest a heartbeat carries now, or null (see Replicator.heartbeatDigest). */
  heartbeatDigest(): string | null;
  peerView: PeerView;
  log: Logger;
  isLeader(): boolean;
  lastApply(): ApplyReport | undefined;
  observeEpoch(epoch: number): void;
}

interface Waiter {
  revision: number;
  /** A revocation's wait ends as soon as the peer proves unreachable: its caller then names the risk. */
  endWhenUnreachable: boolean;
  resolve: (outcome: WaitOutcome) => void;
}

/**
 * The leader's view of one follower. One sender at a time, always shipping everything from what the
 * follower has acknowledged up to the newest revision, so concurrent writes coalesce instead of racing.
 * When the follower is up to date, each heartbeat tells it the leader's position and the digest of its
 * configuration there: a follower that acknowledged once is not trusted to stay in sync forever.
 */
export class PeerLink {
  acked: number | undefined;
  /** Whether this follower has heard from us since we became leader (it forwards writes to whoever did). */
  announced = false;
  status: PeerSyncStatus = "unknown";
  lastError: string | null = null;
  /**
   * The newest revision the follower confirmed (a push it took, a heartbeat it agreed with) and when, wall clock:
   * kept across errors and leadership terms, unlike `acked`, so that lag and silence can be measured (metrics).
   */
  confirmed: { revision: number; atMs: number } | undefined;
  private sending = false;
  private again = false;
  private beatDue = false;
  private waiters: Waiter[] = [];

  constructor(readonly client: PeerClient, private readonly leader: LinkOwner) {}

  report(): PeerReport {
    return { name: this.client.name, status: this.status, revision: this.acked ?? null, lastError: this.lastError };
  }

  waitFor(revision: number, timeoutMs: number, endWhenUnreachable = false): Promise<WaitOutcome> {
    if (this.acked !== undefined && this.acked >= revision) return Promise.resolve("confirmed");
    return new Promise((resolve) => {
      const waiter: Waiter = { revision, endWhenUnreachable, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve("timeout");
      }, timeoutMs).unref();
      this.kick();
    });
  }

  /** The leader's heartbeat tick: catch up if behind, otherwise prove that we still agree. */
  beat(): void {
    this.beatDue = true;
    this.kick();
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
      const code = error instanceof AppError ? error.code : undefined;
      const detail = errorMessage(error);
      if (code === "incompatible-peer" && (this.status !== "incompatible" || this.lastError !== detail)) {
        // Nothing more is sent to it; each heartbeat asks again, so an upgraded peer is picked up by itself.
        this.leader.log.error({ peer: this.client.name, peerProtocol: this.client.peerProtocol, detail },
          "not replicating to the peer: it speaks no replication protocol version this gateway speaks");
      }
      this.lastError = detail;
      this.status = code === "peer-unreachable" ? "unreachable" : code === "incompatible-peer" ? "incompatible" : "behind";
      this.acked = undefined;
      if (this.status === "unreachable") this.release((w) => w.endWhenUnreachable, "unreachable");
      // An incompatible peer cannot take any write until one of the pair is upgraded: no write waits for it.
      if (this.status === "incompatible") this.release(() => true, "unreachable");
    } finally {
      this.sending = false;
    }
  }

  private async step(): Promise<void> {
    if (!this.leader.isLeader()) return;
    const db = this.leader.store.db;
    if (this.acked === undefined) {
      const state = await this.client.state();
      if (this.status === "incompatible") {
        this.leader.log.info({ peer: this.client.name, peerProtocol: this.client.peerProtocol }, "the peer's replication protocol is compatible again; replicating to it");
      }
      this.observe(state);
      // Histories agree up to the follower's revision only if we wrote that revision in the same epoch.
      const ours = epochOfRevision(db, state.revision);
      this.acked = state.revision <= position(db).revision && ours === state.revisionEpoch ? state.revision : -1;
    }
    // From here to the send, nothing awaits: what is sent is exactly the store at `target`.
    const target = position(db).revision;
    const { epoch } = replicationState(db);
    if (this.acked === target) {
      if (this.announced && !this.beatDue) return this.settle("in-sync");
      this.beatDue = false;
      const digest = this.leader.heartbeatDigest();
      const result = await this.client.heartbeat({
        epoch, leader: this.leader.name, position: { revision: target, revisionEpoch: epochOfRevision(db, target) ?? 0 },
        digest, dataplane: this.leader.lastApply() ?? null,
      });
      if (!result.ok) return this.refused(result, target);
      if (result.state) this.observe(result.state);
      this.announced = true;
      this.lastError = null;
      this.confirm(target);
      return this.settle("in-sync");
    }
    const changes = this.acked >= 0 ? changesSince(db, this.acked, target) : undefined;
    const base = this.acked >= 0 ? { revision: this.acked, revisionEpoch: epochOfRevision(db, this.acked) ?? 0 } : undefined;
    const result = changes && base
      ? await this.client.pushChanges({ epoch, leader: this.leader.name, base, revisions: changes })
      : await this.client.pushSnapshot({ epoch, leader: this.leader.name, snapshot: exportSnapshot(db) });
    if (!result.ok) return this.refused(result, target);
    this.acked = target;
    this.announced = true;
    this.lastError = null;
    this.confirm(target);
    return this.settle(position(db).revision === target ? "in-sync" : "behind");
  }

  private refused(result: PushResult, target: number): void {
    const error = `peer answered ${result.status}${result.code ? ` (${result.code})` : ""}${result.detail ? `: ${result.detail}` : ""}`;
    const log = this.leader.log.child({ peer: this.client.name });
    if (refusedAs(result, "out-of-sync", "stale-message")) {
      // Its history is not where we thought: read its position again and send what fits.
      this.acked = undefined;
      this.again = true;
      this.status = "behind";
      this.lastError = error;
      return;
    }
    if (refusedAs(result, "digest-mismatch")) {
      log.warn({ revision: target }, "the peer's configuration differs from ours at the same revision; re-seeding it with a snapshot");
      this.acked = -1;
      this.again = true;
      this.status = "behind";
      this.lastError = error;
      return;
    }
    if (this.status !== "refused" || this.lastError !== error) log.error({ status: result.status, code: result.code, detail: result.detail }, "the peer refused replication");
    this.status = "refused";
    this.lastError = error;
    if (refusedAs(result, "stale-epoch") && result.state) this.leader.observeEpoch(result.state.epoch);
    this.acked = undefined;
  }

  private confirm(revision: number): void {
    this.confirmed = { revision, atMs: Date.now() };
  }

  private observe(state: PeerState): void {
    this.leader.peerView.record(this.client.name, { role: state.role, lastApply: state.dataplane ?? null });
  }

  private settle(status: PeerSyncStatus): void {
    this.status = status;
    const acked = this.acked ?? -1;
    this.release((w) => w.revision <= acked, "confirmed");
  }

  private release(which: (waiter: Waiter) => boolean, outcome: WaitOutcome): void {
    this.waiters = this.waiters.filter((w) => {
      if (!which(w)) return true;
      w.resolve(outcome);
      return false;
    });
  }
}

/** Whether the peer refused with one of `codes` (typed: a code the leader acts on must be in the catalogue). */
function refusedAs(result: PushResult, ...codes: ErrorCode[]): boolean {
  return result.code !== undefined && (codes as string[]).includes(result.code);
}
