/**
 * A stand-in for the HA part of the API's dependencies, for API tests of forwarding, replication
 * acknowledgements and writes without a leader. (No tests here.)
 */
import type { ApiDeps } from "../../../api/context.js";
import type { Follower } from "../../../appliance/replication/follower.js";
import type { ReplicationOutcome, WaitOutcome } from "../../../appliance/replication/leader.js";
import { ProtocolGuard } from "../../../appliance/replication/protocol-guard.js";
import { REPLICATION_PROTOCOL } from "../../../appliance/replication/protocol.js";
import { pino } from "pino";
import type { Harness } from "./harness.js";

export type HaDeps = NonNullable<ApiDeps["ha"]>;

/** Installs a fake `ha` on the harness: a leader whose peer gw-b answers every write with `outcome`. */
export function fakeLeader(h: Harness, outcome: () => WaitOutcome): { kinds: string[] } {
  const kinds: string[] = [];
  installHa(h, {
    isLeader: () => true,
    replicate: async (revision, kind): Promise<ReplicationOutcome[]> => {
      kinds.push(kind);
      const result = outcome();
      return [{
        name: "gw-b", outcome: result, revision: result === "confirmed" ? revision : null,
        status: result === "confirmed" ? "in-sync" : result === "unreachable" ? "unreachable" : "refused", lastError: null,
      }];
    },
  });
  return { kinds };
}

export function installHa(h: Harness, overrides: Partial<HaDeps>): HaDeps {
  const ha: HaDeps = {
    follower: {} as Follower,
    isLeader: () => false,
    peers: () => [],
    leader: () => undefined,
    probeLeader: async () => ({ reason: "no leader reachable (test)" }),
    replicate: async () => [],
    handover: async () => ({ from: "gw-test", role: "backup" }),
    revocationTimeoutMs: 10_000,
    protocol: new ProtocolGuard({ name: "gw-test", peer: "gw-peer", range: REPLICATION_PROTOCOL, log: pino({ enabled: false }) }),
    ...overrides,
  };
  h.deps.ha = ha;
  return ha;
}
