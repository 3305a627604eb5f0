import type { Config } from "../config/schema.js";
import type { PeerGuard } from "./guards.js";
import type { RulesetOptions } from "./ruleset.js";

/**
 * The ruleset options of a configuration: the daemon and `egw show nft` must render the same table, so
 * both take them from here. The peer guard comes from the HA configuration (absent on a single gateway).
 */
export function rulesetOptions(config: Config): RulesetOptions {
  const peerGuard = peerGuardOf(config);
  return {
    table: config.dataplane.nftTable,
    insideInterface: config.network.inside.interface,
    outsideInterface: config.network.outside.interface,
    unmappedTraffic: config.dataplane.unmappedTraffic,
    sourceBinding: config.dataplane.sourceBinding,
    failClosedMark: config.dataplane.failClosed.mark,
    policyLog: {
      group: config.policy.log.enabled ? config.policy.log.group : undefined,
      ratePerSecond: config.policy.log.ratePerSecond,
      burst: config.policy.log.burst,
    },
    ...(peerGuard ? { peerGuard } : {}),
  };
}

/** In a pair, VRRP, state sync and replication are admitted only from the peer, on the sync link. */
function peerGuardOf(config: Config): PeerGuard | undefined {
  const ha = config.ha;
  if (!ha) return undefined;
  return {
    syncInterface: ha.syncLink.interface,
    localAddress: ha.syncLink.address,
    peerAddress: ha.peer.address,
    conntrackdPort: ha.ports.conntrackd,
    replicationPort: ha.ports.replication,
  };
}
