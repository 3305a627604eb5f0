import type { Config } from "../config/schema.js";
import { parseInterfaceAddress } from "../net/cidr.js";

type HaConfig = NonNullable<Config["ha"]>;

export interface VrrpInstanceView {
  name: "egw_inside" | "egw_outside";
  interface: string;
  routerId: number;
  priority: number;
  advertSeconds: string;
  unicast?: { source: string; peers: string[] };
  /** Addresses carried in the VRRP adverts: the family of the instance (IPv4). */
  advertised: string[];
  /** Addresses that move with the instance but are not advertised (the other family). */
  excluded: string[];
}

export interface KeepalivedView {
  generatedFor: string;
  routerId: string;
  notifyFifo: string;
  healthFile: string;
  instances: VrrpInstanceView[];
}

/**
 * Both instances sit in one sync group, so the inside VIPs and every egress IP always move together: a
 * gateway that holds the egress IPs but not the inside VIP (or the reverse) would black-hole traffic.
 * VRRPv3 adverts carry one family; addresses of the other family ride along as "excluded" addresses.
 */
export function keepalivedView(config: Config, ha: HaConfig, egressIps: readonly string[], files: { notifyFifo: string; healthFile: string }): KeepalivedView {
  const insideVips = ha.insideVips.map((text, i) => parseInterfaceAddress(text, `ha.insideVips.${i}`));
  const egress = egressIps.map((address) => ({ family: address.includes(":") ? 6 : 4, text: `${address}/${address.includes(":") ? 128 : 32}` }));
  const advertSeconds = (ha.advertIntervalMs / 1000).toFixed(3).replace(/0+$/, "").replace(/\.$/, "");
  const instance = (name: VrrpInstanceView["name"], iface: string, routerId: number, addresses: { family: number; text: string }[],
    unicast: { source: string; peers: string[] } | undefined): VrrpInstanceView => ({
    name, interface: iface, routerId, priority: ha.priority, advertSeconds,
    ...(unicast ? { unicast } : {}),
    advertised: addresses.filter((a) => a.family === 4).map((a) => a.text),
    excluded: addresses.filter((a) => a.family === 6).map((a) => a.text),
  });
  const u = ha.unicast;
  return {
    generatedFor: config.gateway.name,
    routerId: config.gateway.name,
    notifyFifo: files.notifyFifo,
    healthFile: files.healthFile,
    instances: [
      instance("egw_inside", config.network.inside.interface, ha.virtualRouterIds.inside, insideVips,
        u && { source: u.insideSource, peers: u.insidePeers }),
      instance("egw_outside", config.network.outside.interface, ha.virtualRouterIds.outside, egress,
        u && { source: u.outsideSource, peers: u.outsidePeers }),
    ],
  };
}
