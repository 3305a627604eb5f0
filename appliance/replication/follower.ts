import type { Logger } from "pino";
import { AppError } from "../errors.js";
import type { ApplyReport } from "../reconcile/reconciler.js";
import { assertStoreInvariants, emptyScope, fullScope, observeChange } from "../service/invariants/index.js";
import type { OwnAddresses } from "../service/own-addresses.js";
import { isConstraintViolation } from "../store/database.js";
import type { Store } from "../store/store.js";
import { DigestCache } from "./digest.js";
import { discardedWrites } from "./discarded.js";
import { applyChanges, importSnapshot, noteHistoryRestarted, position, replicationState, setReplicationState, type HistoryPosition } from "./log.js";
import { checkChangesMessage, checkSender, checkSnapshotMessage } from "./message-rules.js";
import { changesMessageSchema, heartbeatMessageSchema, parseMessage, snapshotMessageSchema } from "./messages.js";
import type { PeerView } from "./peer-view.js";

export interface FollowerContext {
  name: string;
  /** The configured peer: the only gateway whose messages are accepted (mutual TLS proved who sent them). */
  peer: string;
  /** Whether this gateway currently holds mastership (then it leads and accepts no pushes). */
  isLeader: () => boolean;
  role: () => string;
  /** This gateway's own addresses, for the store rules that depend on them. */
  own: OwnAddresses;
  /** This gateway's last data-plane apply, reported to the leader with every answer. */
  lastApply: () => ApplyReport | undefined;
  /** Where what the leader says of itself in its heartbeats is kept. */
  peerView: PeerView;
}

/**
 * The follower's side. A message is accepted only if it is well-formed, comes from the configured peer,
 * carries an epoch not older than any seen here (fencing a deposed leader), continues exactly from this
 * gateway's history, and leaves the store obeying every rule an API write must obey; it is applied in one
 * transaction or not at all. Anything else is refused, logged with the peer's name, and answered with this
 * gateway's state so that a correct leader can send what fits.
 */
export class Follower {
  private readonly digests = new DigestCache();

  constructor(private readonly store: Store, private readonly context: FollowerContext, private readonly log: Logger) {}

  state() {
    const db = this.store.db;
    return {
      name: this.context.name, role: this.context.role(), ...replicationState(db), ...position(db),
      dataplane: this.context.lastApply() ?? null,
    };
  }

  acceptChanges(body: unknown): { revision: number } {
    return this.refusalsLogged("changes", body, () => {
      const message = parseMessage(changesMessageSchema, body, "changes");
      checkChangesMessage(message, this.context.peer);
      this.fence(message.epoch, message.leader);
      const db = this.store.db;
      const here = position(db);
      if (message.revisions.length === 0) {
        // An announcement (older leaders): a new leader tells an up-to-date follower where writes now go.
        this.recordLeader(message.epoch, message.leader);
        return { revision: here.revision };
      }
      if (here.revision !== message.base.revision || here.revisionEpoch !== message.base.revisionEpoch) {
        this.refuseStale(here, message.base.revision, message.epoch, "changes");
        throw new AppError("out-of-sync", `history differs: this gateway is at revision ${here.revision} (epoch ${here.revisionEpoch})`,
          { extra: { state: this.state() } });
      }
      const last = message.revisions.at(-1)!;
      this.applyOrRefuse(last.revision, () => {
        const scope = emptyScope();
        applyChanges(db, message.revisions, (entry) => observeChange(db, scope, entry.tbl, entry.pk, entry.row));
        assertStoreInvariants(db, scope, this.context.own);
        this.recordLeader(message.epoch, message.leader);
      });
      return { revision: last.revision };
    });
  }

  acceptSnapshot(body: unknown): { revision: number } {
    return this.refusalsLogged("snapshot", body, () => {
      const message = parseMessage(snapshotMessageSchema, body, "snapshot");
      checkSnapshotMessage(message, this.context.peer);
      this.fence(message.epoch, message.leader);
      const db = this.store.db;
      const here = position(db);
      const { snapshot } = message;
      this.refuseStale(here, snapshot.revision, message.epoch, "snapshot");
      const discarded = discardedWrites(db, snapshot);
      this.applyOrRefuse(snapshot.revision, () => {
        importSnapshot(db, snapshot);
        assertStoreInvariants(db, fullScope(), this.context.own);
        this.recordLeader(message.epoch, message.leader);
      });
      noteHistoryRestarted(db, snapshot.revision);
      if (here.revision !== snapshot.revision || here.revisionEpoch !== snapshot.revisionEpoch) {
        this.log.warn({ from: here, to: { revision: snapshot.revision, revisionEpoch: snapshot.revisionEpoch }, leader: message.leader },
          "replaced this gateway's configuration with the leader's snapshot");
      }
      if (discarded.length > 0) {
        // The conflict rule after a partition: the leader's history wins. Writes only this side took are gone.
        this.log.error({ leader: message.leader, discardedCount: discarded.length, discarded: discarded.slice(0, 100) },
          "discarded writes this gateway accepted while its history diverged from the leader's; their audit records follow");
      }
      return { revision: snapshot.revision };
    });
  }

  /**
   * The leader's heartbeat: its position, the digest of its configuration there, and its data-plane
   * health. At the same position the digests must agree; if they do not, this store was changed behind
   * replication's back, and the refusal makes the leader re-seed it with a snapshot.
   */
  acceptHeartbeat(body: unknown) {
    return this.refusalsLogged("heartbeat", body, () => {
      const message = parseMessage(heartbeatMessageSchema, body, "heartbeat");
      checkSender(message.leader, this.context.peer);
      this.fence(message.epoch, message.leader);
      this.context.peerView.record(message.leader, { role: "master", lastApply: message.dataplane });
      const here = position(this.store.db);
      if (here.revision !== message.position.revision || here.revisionEpoch !== message.position.revisionEpoch) {
        throw new AppError("out-of-sync", `this gateway is at revision ${here.revision} (epoch ${here.revisionEpoch})`,
          { extra: { state: this.state() } });
      }
      const ours = message.digest === null ? null : this.digests.of(this.store.db).digest;
      if (ours !== message.digest) {
        this.log.warn({ leader: message.leader, position: here, digest: ours, leaderDigest: message.digest },
          "this gateway's configuration differs from the leader's at the same revision; asking for a snapshot");
        throw new AppError("digest-mismatch", `the configuration digest at revision ${here.revision} differs from the leader's`,
          { extra: { state: this.state() } });
      }
      this.recordLeader(message.epoch, message.leader);
      return this.state();
    });
  }

  private fence(epoch: number, leader: string): void {
    if (this.context.isLeader()) {
      throw new AppError("not-follower", `${this.context.name} is itself the leader; it does not accept changes from ${leader}`,
        { extra: { state: this.state() } });
    }
    const known = replicationState(this.store.db).epoch;
    if (epoch < known) {
      throw new AppError("stale-epoch", `leader ${leader} has epoch ${epoch}, older than epoch ${known} already seen here`,
        { extra: { state: this.state() } });
    }
  }

  /**
   * A replay: this gateway already holds revisions past the message's, written in the message's epoch or a
   * newer one. The leader of that epoch sent them itself, so it can have no reason to go back before them.
   */
  private refuseStale(here: HistoryPosition, revision: number, epoch: number, what: string): void {
    if (here.revision > revision && here.revisionEpoch >= epoch) {
      throw new AppError("stale-message", `stale ${what}: this gateway is already at revision ${here.revision} of epoch ${here.revisionEpoch}, past revision ${revision}`,
        { extra: { state: this.state() } });
    }
  }

  /** One transaction; a row the schema itself refuses (a dangling reference, a duplicate) refuses the message. */
  private applyOrRefuse(revision: number, apply: () => void): void {
    try {
      this.store.applyExternal(revision, apply);
    } catch (error) {
      if (!isConstraintViolation(error)) throw error;
      throw new AppError("replication-refused", `the store's schema refuses the message: ${error.message}`, { cause: error, extra: { rule: "store-constraint" } });
    }
  }

  /** Records the leader and its epoch; written only when they change (a heartbeat a second must not fsync). */
  private recordLeader(epoch: number, leader: string): void {
    const db = this.store.db;
    const current = replicationState(db);
    const next = Math.max(epoch, current.epoch);
    if (next !== current.epoch || current.leader !== leader) setReplicationState(db, next, leader);
  }

  private refusalsLogged<T>(what: string, body: unknown, accept: () => T): T {
    try {
      return accept();
    } catch (error) {
      const claimed = typeof body === "object" && body !== null ? (body as { leader?: unknown; epoch?: unknown }) : {};
      const fields = { peer: this.context.peer, leader: claimed.leader, epoch: claimed.epoch, message: what };
      if (!(error instanceof AppError)) {
        this.log.error({ ...fields, err: error }, "applying a replication message failed");
        throw error;
      }
      const { code } = error;
      if (code === "replication-refused") {
        this.log.error({ ...fields, rule: error.extra["rule"], table: error.extra["table"], key: error.extra["key"], detail: error.message },
          "refused a replication message that breaks the store's rules; nothing of it was applied");
      } else if (code === "stale-epoch" || code === "stale-message" || code === "not-follower") {
        this.log.warn({ ...fields, code, detail: error.message }, "refused a stale or replayed replication message");
      } else {
        this.log.info({ ...fields, code, detail: error.message }, "replication message refused; the leader will send what fits");
      }
      throw error;
    }
  }
}
