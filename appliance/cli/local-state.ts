import { loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { haConfigPaths } from "../ha/config-paths.js";
import { keepalivedView } from "../ha/keepalived-view.js";
import { renderTemplate } from "../ha/templates.js";
import { readDesiredState, type DesiredState } from "../reconcile/desired-state.js";
import { desiredNftState, renderFull } from "../nft/ruleset.js";
import { rulesetOptions } from "../nft/ruleset-options.js";
import type { Command } from "../nft/json.js";
import type { NftState } from "../nft/state.js";
import { contributionsByCluster, flatten } from "../reconcile/contributions.js";
import { clusterSourcesOf } from "../reconcile/desired-state.js";
import { compilePolicies } from "../policy/compile.js";
import { openReadOnly } from "../store/database.js";

/**
 * What the daemon would render, computed here from its config and a read-only view of its store: the same
 * functions the daemon uses, no API call and no write. The database is opened read-only, so this is safe
 * beside the running daemon (SQLite WAL lets readers in while it writes).
 */
export function readLocalDesired(configPath: string): { config: Config; desired: DesiredState } {
  const config = loadConfig(configPath);
  const db = openReadOnly(config.database.path);
  try {
    return { config, desired: readDesiredState(db) };
  } finally {
    db.close();
  }
}

export { rulesetOptions };

/**
 * `macs`: the next hops' MACs as the kernel's neighbour table has them (source binding's bound_* sets);
 * without them those sets render empty. The peer guard (HA) is not rendered here.
 */
export function renderedNft(config: Config, desired: DesiredState, macs: ReadonlyMap<string, string | undefined> = new Map()): { state: NftState; commands: Command[] } {
  const options = rulesetOptions(config);
  const { mappings, policies, guards } = flatten(contributionsByCluster(desired, macs));
  // DNS names resolve in the daemon only: rendered here, a policy holds its prefixes and no name's addresses.
  const compiled = compilePolicies({ policies, floors: desired.floors ?? [], clusterSources: clusterSourcesOf(desired), addressesOf: () => [] });
  const state = desiredNftState(options, mappings, desired.egressIps, guards, compiled);
  return { state, commands: renderFull(options, state) };
}

/** keepalived's config as the daemon renders it, and where the daemon writes it (both from haConfigPaths). */
export function renderedKeepalived(config: Config, desired: DesiredState): { path: string; text: string } | undefined {
  const ha = config.ha;
  if (!ha) return undefined;
  const paths = haConfigPaths(ha);
  const view = keepalivedView(config, ha, desired.egressIps, paths);
  return { path: paths.keepalived, text: renderTemplate("keepalived.conf.hbs", view) };
}
