import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { hostPrefixLength, parseInterfaceAddress } from "../net/cidr.js";
import type { CommandRunner } from "../system/runner.js";

type HaConfig = NonNullable<Config["ha"]>;

export interface FloatingAddress {
  /** ADDRESS/LENGTH exactly as keepalived adds it. */
  address: string;
  interface: string;
}

/** Every address keepalived moves with the master: the inside VIPs and each egress IP (as /32 or /128). */
export function floatingAddresses(config: Config, ha: HaConfig, egressIps: readonly string[]): FloatingAddress[] {
  const inside = config.network.inside.interface;
  const outside = config.network.outside.interface;
  return [
    ...ha.insideVips.map((text, i) => ({ address: parseInterfaceAddress(text, `ha.insideVips.${i}`).text, interface: inside })),
    ...egressIps.map((ip) => ({ address: `${ip}/${hostPrefixLength(ip)}`, interface: outside })),
  ];
}

/**
 * Removes the floating addresses from this gateway's interfaces, for when keepalived died and can no
 * longer do it: two gateways must never answer for the same VIP or egress IP. An address that is not
 * there (ip exits 2, "Cannot assign requested address") is what we want; other failures are logged and
 * the rest are still removed.
 */
export async function withdrawFloatingAddresses(runner: CommandRunner, addresses: readonly FloatingAddress[], log: Logger): Promise<number> {
  let removed = 0;
  for (const { address, interface: iface } of addresses) {
    try {
      const result = await runner.run("ip", ["address", "del", address, "dev", iface], { okExitCodes: [2] });
      if (result.exitCode === 0) removed++;
    } catch (error) {
      log.error({ err: error, address, interface: iface }, "could not withdraw a floating address");
    }
  }
  log.warn({ removed, addresses: addresses.map((a) => `${a.address} dev ${a.interface}`) }, "floating addresses withdrawn from this gateway");
  return removed;
}
