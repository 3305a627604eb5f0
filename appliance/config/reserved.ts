import type { Config } from "./schema.js";

/**
 * Addresses that can never be handed out as egress IPs or used as next hops besides those on this machine's
 * interfaces: the configured ones, and in a group the inside VIPs, whichever gateway holds them right now.
 */
export function reservedAddresses(config: Config): string[] {
  return [...config.network.reservedAddresses, ...(config.ha?.insideVips.map((vip) => vip.split("/")[0] as string) ?? [])];
}
