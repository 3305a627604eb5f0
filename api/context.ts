import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Store } from "../appliance/store/store.js";
import type { OwnAddresses } from "../appliance/service/own-addresses.js";
import type { ApplyReport } from "../appliance/reconcile/reconciler.js";
import type { z } from "@hono/zod-openapi";
import type { HttpObservation } from "../appliance/http-metrics.js";
import type { systemStatus } from "./schemas/resources.js";
import type { policyEvent } from "./schemas/policies.js";

import type { Follower } from "../appliance/replication/follower.js";
import type { ReplicationOutcome } from "../appliance/replication/leader.js";
import type { PeerClient } from "../appliance/replication/peer-client.js";
import type { ProtocolGuard } from "../appliance/replication/protocol-guard.js";
import type { Quotas } from "../appliance/model.js";
import type { TranslationPage, TranslationQuery } from "../appliance/translation-model.js";
import type { PortView } from "../appliance/translations/port-tally.js";
import type { FailureWindowOptions } from "./limits/failure-window.js";
import type { TokenBucketOptions } from "./limits/token-bucket.js";

/** An admin is known by its token's name: "admin" for api.adminTokenFile, else its api.adminTokens name. */
export type Principal = { kind: "admin"; name: string } | { kind: "cluster"; cluster: string; tokenId: string };

export interface AdminToken {
  name: string;
  token: string;
}

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
  adminTokens: AdminToken[];
  own: OwnAddresses;
  dataplane: {
    appliedRevision(): number;
    lastReport(): ApplyReport | undefined;
    waitForRevision(revision: number, timeoutMs: number): Promise<void>;
    ready(): boolean;
  };
  status(): z.infer<typeof systemStatus>;
  metrics: Registry;
  /** Counts and times each answered request (the daemon's egw_http_* metrics); absent: not measured. */
  recordRequest?: (observation: HttpObservation) => void;
  /** Present in HA mode: replication and leadership. */
  ha?: {
    follower: Follower;
    isLeader(): boolean;
    /** The other gateways of the group, whatever their role (a reverse lookup asks them all). */
    peers(): PeerClient[];
    /** Where writes go when this gateway is not the leader. */
    leader(): PeerClient | undefined;
    /** Asks the peers which one leads: the leader to forward to, or why no leader is reachable. */
    probeLeader(): Promise<{ leader: PeerClient } | { reason: string }>;
    replicate(revision: number, kind: "write" | "revocation"): Promise<ReplicationOutcome[]>;
    handover(): Promise<{ from: string; role: string }>;
    /** ha.revocationTimeoutMs, named in the answer when a reachable peer did not confirm a revocation. */
    revocationTimeoutMs: number;
    /** Admits only peer messages written in a replication protocol version this gateway speaks (peer app). */
    protocol: ProtocolGuard;
  };
  /** Present when translationLog.enabled: this gateway's translation log, for reverse lookups. */
  translations?: {
    /** This gateway's name, as its records carry it. */
    gateway: string;
    /**
     * One page of a lookup in this gateway's log, answered off the daemon's thread. Rejects with AppError
     * "lookup-too-costly" (503) past its time budget, "rate-limited" (429, Retry-After) when too many wait,
     * "not-ready" (503) while the log is not running.
     */
    query(query: TranslationQuery): Promise<TranslationPage>;
  };
  /** The egress policy's live side: counters from the kernel, DNS names, logged refusals. */
  policies?: {
    /** Packets per named counter of our table; undefined when it cannot be read. */
    counters(): Promise<ReadonlyMap<string, number> | undefined>;
    names(): { name: string; state: "pending" | "resolved" | "failing"; addresses: { address: string; expiresAt: number }[]; lastAnswerAt: string | null; lastError: string | null; consecutiveFailures: number; nextRefreshAt: string | null }[];
    /** A cluster's latest logged refusals, newest first. */
    events(cluster: string): z.infer<typeof policyEvent>[];
  };
  /** The port tally (connections per egress IP and destination); absent while the translation log is off. */
  ports?: PortView;
  bodyLimitBytes: number;
  /** How long, at most, a refused body is read and dropped so its sender reads the answer; absent: 2 s. Tests on loaded machines lengthen it. */
  bodyDrainMs?: number;
  waitTimeoutMs: number;
  /** limits.clusterDefaults: the quotas of a cluster that sets none of its own. */
  clusterQuotaDefaults: Quotas;
  /** Per cluster token; admin tokens are not limited. */
  rateLimit: TokenBucketOptions;
  /** Per client address (IPv6 /64, or the unix socket). */
  authFailures: FailureWindowOptions;
  /** Milliseconds; the limiters' clock (tests move it by hand). Default Date.now. */
  clock?: () => number;
  log: Logger;
}

export type ApiEnv = {
  Bindings: { forwarded?: ForwardedRequest };
  Variables: {
    principal: Principal;
    deps: ApiDeps;
    /** This request's id (X-Request-Id: the client's, if acceptable, else a random UUID); in its log line and audit records. */
    requestId: string;
    /** Set while a whole-set PUT holds its cluster's lock; performWrite calls it once the write committed. */
    bulkWriteDone: (() => void) | undefined;
    /** Set when an admin asked to write although no leader is reachable: the reason none is. */
    withoutLeader: string | undefined;
  };
};
