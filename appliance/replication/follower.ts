import type { Logger } from "pino";
import { AppError } from "../errors.js";
import type { Store } from "../store/store.js";
import {
  applyChanges, importSnapshot, position, replicationState, setReplicationState,
  type HistoryPosition, type RevisionChanges, type Snapshot,
} from "./log.js";

export interface FollowerContext {
  name: string;
  /** Whether this gateway currently holds mastership (then it leads and accepts no pushes). */
  isLeader: () => boolean;
  role: () => string;
}

/**
 * The follower's side: accepts a leader's changes only if the leader's epoch is not older than any this
 * gateway has seen (fencing a deposed leader) and only if they continue exactly from this gateway's
 * history; anything else is answered with this gateway's position so the leader can send what fits.
 */
export class Follower {
  constructor(private readonly store: Store, private readonly context: FollowerContext, private readonly log: Logger) {}

  state() {
    const db = this.store.db;
    return { name: this.context.name, role: this.context.role(), ...replicationState(db), ...position(db) };
  }

  acceptChanges(body: { epoch: number; leader: string; base: HistoryPosition; revisions: RevisionChanges[] }): { revision: number } {
    this.fence(body.epoch, body.leader);
    const db = this.store.db;
    const here = position(db);
    if (body.revisions.length === 0) {
      // An announcement: a new leader tells an up-to-date follower where writes now go.
      setReplicationState(db, Math.max(body.epoch, replicationState(db).epoch), body.leader);
      return { revision: here.revision };
    }
    if (here.revision !== body.base.revision || here.revisionEpoch !== body.base.revisionEpoch) {
      throw new AppError("conflict", `history differs: this gateway is at revision ${here.revision} (epoch ${here.revisionEpoch})`,
        { extra: { code: "out-of-sync", state: this.state() } });
    }
    const last = body.revisions.at(-1) as RevisionChanges;
    this.store.applyExternal(last.revision, () => {
      applyChanges(db, body.revisions);
      setReplicationState(db, Math.max(body.epoch, replicationState(db).epoch), body.leader);
    });
    return { revision: last.revision };
  }

  acceptSnapshot(body: { epoch: number; leader: string; snapshot: Snapshot }): { revision: number } {
    this.fence(body.epoch, body.leader);
    const db = this.store.db;
    const here = position(db);
    if (here.revision !== body.snapshot.revision || here.revisionEpoch !== body.snapshot.revisionEpoch) {
      this.log.warn({ from: here, to: { revision: body.snapshot.revision, revisionEpoch: body.snapshot.revisionEpoch }, leader: body.leader },
        "replacing this gateway's configuration with the leader's snapshot; changes made only here since the histories diverged are discarded");
    }
    this.store.applyExternal(body.snapshot.revision, () => {
      importSnapshot(db, body.snapshot);
      setReplicationState(db, Math.max(body.epoch, replicationState(db).epoch), body.leader);
    });
    return { revision: body.snapshot.revision };
  }

  private fence(epoch: number, leader: string): void {
    if (this.context.isLeader()) {
      throw new AppError("conflict", `${this.context.name} is itself the leader; it does not accept changes from ${leader}`,
        { extra: { code: "not-follower", state: this.state() } });
    }
    const known = replicationState(this.store.db).epoch;
    if (epoch < known) {
      throw new AppError("conflict", `leader ${leader} has epoch ${epoch}, older than epoch ${known} already seen here`,
        { extra: { code: "stale-epoch", state: this.state() } });
    }
  }
}
