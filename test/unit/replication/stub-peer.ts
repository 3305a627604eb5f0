/**
 * A stand-in peer for the Replicator tests: a PeerClient backed by a real Follower on another store.
 * (No tests here: node --test loads this file and finds none.)
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { AppError } from "../../../appliance/errors.js";
import { Follower, type FollowerContext } from "../../../appliance/replication/follower.js";
import type { HistoryPosition, RevisionChanges, Snapshot } from "../../../appliance/replication/log.js";
import type { HeartbeatMessage } from "../../../appliance/replication/messages.js";
import type { PeerTransport } from "../../../appliance/replication/peer-transport.js";
import { PeerClient, type PeerState, type PushResult } from "../../../appliance/replication/peer-client.js";
import { PeerView } from "../../../appliance/replication/peer-view.js";
import type { Store } from "../../../appliance/store/store.js";
import { followerContext, overTheWire } from "./replication-helpers.js";

const quiet = pino({ enabled: false });
export const TIMEOUT_MS = 200;

/**
 * A PeerClient whose HTTP calls are replaced by direct calls to a real Follower on another store, with the
 * bodies passed through JSON as the wire would, and refusals answered the way the API's problem documents are.
 */
export class StubPeer extends PeerClient {
  down = false;
  calls: string[] = [];
  follower: Follower;

  /** What the follower learned of the leader from its heartbeats. */
  readonly peerView: PeerView;

  constructor(name: string, public store: Store, private readonly context: Partial<FollowerContext> = {}) {
    super({ peer: { name, address: "127.0.0.1", port: 9 } } as unknown as PeerTransport, TIMEOUT_MS, 1 << 20);
    this.peerView = context.peerView ?? new PeerView();
    this.follower = new Follower(store, followerContext(name, "gw-a", { ...context, peerView: this.peerView }), quiet);
  }

  /** The peer comes back with another database (e.g. reinstalled, or restored from an old backup). */
  replaceStore(store: Store): void {
    this.store = store;
    this.follower = new Follower(store, followerContext(this.name, "gw-a", { ...this.context, peerView: this.peerView }), quiet);
  }

  private reachable(): void {
    if (this.down) throw new AppError("peer-unreachable", `peer ${this.name} unreachable: connect ECONNREFUSED 127.0.0.1:9`);
  }

  override async state(): Promise<PeerState> {
    this.calls.push("state");
    this.reachable();
    return overTheWire(this.follower.state());
  }

  override async pushChanges(body: { epoch: number; leader: string; base: HistoryPosition; revisions: RevisionChanges[] }): Promise<PushResult> {
    this.calls.push("changes");
    this.reachable();
    return answer(() => this.follower.acceptChanges(overTheWire(body)));
  }

  override async pushSnapshot(body: { epoch: number; leader: string; snapshot: Snapshot }): Promise<PushResult> {
    this.calls.push("snapshot");
    this.reachable();
    return answer(() => this.follower.acceptSnapshot(overTheWire(body)));
  }

  override async heartbeat(body: HeartbeatMessage): Promise<PushResult> {
    this.calls.push("heartbeat");
    this.reachable();
    return answer(() => this.follower.acceptHeartbeat(overTheWire(body)));
  }
}

function answer(accept: () => unknown): PushResult {
  try {
    const result = accept() as { name?: unknown };
    // A heartbeat's answer is the follower's state, as PeerClient reads it from the body.
    if (typeof result.name === "string") return overTheWire({ ok: true, status: 200, state: result as unknown as PeerState });
    return { ok: true, status: 200 };
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    const state = error.extra["state"] as PeerState | undefined;
    return overTheWire({ ok: false, status: error.status, code: error.code, ...(state ? { state } : {}) });
  }
}

/**
 * Waits for replicate() while holding the event loop open: PeerLink's timeout timer is unref()ed (in the
 * daemon the HTTP server keeps the loop alive), so without this node:test would see an idle loop and cancel.
 */
export async function held<T>(promise: Promise<T>): Promise<T> {
  const keepAlive = setInterval(() => undefined, 1_000);
  try {
    return await promise;
  } finally {
    clearInterval(keepAlive);
  }
}

export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

