import type { Config } from "../config/schema.js";
import type { PeerGuard } from "./guards.js";
import type { RulesetOptions } from "./ruleset.js";

/**
 * The ruleset options of a configuration: the daemon and `egw show nft` must render the same table, so
 * both take them from here. `peerGuard` comes from the HA configuration (absent on a single gateway).
 */
export function rulesetOptions(config: Config, peerGuard?: PeerGuard): RulesetOptions {
  return {
    table: config.dataplane.nftTable,
    insideInterface: config.network.inside.interface,
    outsideInterface: config.network.outside.interface,
    unmappedTraffic: config.dataplane.unmappedTraffic,
    sourceBinding: config.dataplane.sourceBinding,
    failClosedMark: config.dataplane.failClosed.mark,
    ...(peerGuard ? { peerGuard } : {}),
  };
}
