import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Store } from "../appliance/store/store.js";
import type { OwnAddresses } from "../appliance/service/own-addresses.js";
import type { ApplyReport } from "../appliance/reconcile/reconciler.js";
import type { z } from "@hono/zod-openapi";
import type { systemStatus } from "./schemas/resources.js";

import type { Follower } from "../appliance/replication/follower.js";
import type { PeerReport } from "../appliance/replication/leader.js";
import type { PeerClient } from "../appliance/replication/peer-client.js";

export type Principal = { kind: "admin" } | { kind: "cluster"; cluster: string; tokenId: string };

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
    replicate(revision: number): Promise<PeerReport[]>;
    handover(): Promise<{ from: string; role: string }>;
  };
  bodyLimitBytes: number;
  waitTimeoutMs: number;
  log: Logger;
}

export type ApiEnv = { Variables: { principal: Principal; deps: ApiDeps } };
