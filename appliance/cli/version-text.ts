import { REPLICATION_PROTOCOL, rangeText } from "../replication/protocol.js";
import { egwVersion } from "../version.js";

/**
 * `egw --version`: the release (the installed package.json's version) first, for scripts, then the replication
 * protocol versions it speaks, which decide whether two gateways can replicate during an upgrade.
 */
export function versionText(): string {
  return `egw ${egwVersion()} (replication protocol ${REPLICATION_PROTOCOL.newest}, interoperates with ${rangeText(REPLICATION_PROTOCOL)})\n`;
}
