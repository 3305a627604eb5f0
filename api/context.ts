import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Store } from "../appliance/store/store.js";
import type { OwnAddresses } from "../appliance/service/own-addresses.js";
import type { ApplyReport } from "../appliance/reconcile/reconciler.js";
import type { z } from "@hono/zod-openapi";
import type { systemStatus } from "./schemas/resources.js";

import type { Follower } from "../appliance/replication/follower.js";
import type { ReplicationOutcome } from "../appliance/replication/leader.js";
import type { PeerClient } from "../appliance/replication/peer-client.js";

export type Principal = { kind: "admin" } | { kind: "cluster"; cluster: string; tokenId: string };

/**
 * A write the peer gateway forwarded over the replication channel, with the principal it authenticated.
 * Only the peer app sets it, through `app.fetch(request, env)`: the public listeners' env comes from
 * @hono/node-server and can never carry it, whatever headers a client sends.
 */
export interface ForwardedRequest {
  principal: Principal;
  /** The peer gateway that authenticated the client. */
  by: string;
}

/** What the API needs from the rest of the daemon; tests pass a small stand-in for the data-plane parts. */
export interface ApiDeps {
  store: Store;
  adminToken: string;
  own: OwnAddresses;
  dataplane: {
    appliedRevision(): number;
    lastReport(): ApplyReport | undefined;
    waitForRevision(revision: number, timeoutMs: number): Promise<void>;
    ready(): boolean;
  };
  status(): z.infer<typeof systemStatus>;
  metrics: Registry;
  /** Present in HA mode: replication and leadership. */
  ha?: {
    follower: Follower;
    isLeader(): boolean;
    /** Where writes go when this gateway is not the leader. */
    leader(): PeerClient | undefined;
    /** Asks the peers which one leads: the leader to forward to, or why no leader is reachable. */
    probeLeader(): Promise<{ leader: PeerClient } | { reason: string }>;
    replicate(revision: number, kind: "write" | "revocation"): Promise<ReplicationOutcome[]>;
    handover(): Promise<{ from: string; role: string }>;
    /** ha.revocationTimeoutMs, named in the answer when a reachable peer did not confirm a revocation. */
    revocationTimeoutMs: number;
  };
  bodyLimitBytes: number;
  waitTimeoutMs: number;
  log: Logger;
}

export type ApiEnv = {
  Bindings: { forwarded?: ForwardedRequest };
  Variables: {
    principal: Principal;
    deps: ApiDeps;
    /** Set when an admin asked to write although no leader is reachable: the reason none is. */
    withoutLeader: string | undefined;
  };
};
