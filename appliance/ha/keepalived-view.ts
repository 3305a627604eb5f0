import type { Config } from "../config/schema.js";
import { hostPrefixLength, parseInterfaceAddress } from "../net/cidr.js";

type HaConfig = NonNullable<Config["ha"]>;

export interface VrrpInstanceView {
  name: "egw_inside" | "egw_outside";
  interface: string;
  routerId: number;
  priority: number;
  advertSeconds: string;
  /** Adverts go by unicast over the sync link only, and only the peer's are believed (check_unicast_src). */
  unicast: { source: string; peers: string[] };
  /** Other links whose failure puts the instance (and so the group) in FAULT. */
  trackInterfaces: string[];
  /** "ADDRESS/LEN dev IFACE" lines carried in the VRRP adverts (IPv4: adverts carry one family). */
  advertised: string[];
  /** Addresses that move with the instance without being advertised (IPv6). */
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
 * One VRRP instance carries everything: the inside VIPs are advertised, and every egress IP rides along
 * as an excluded (non-advertised) address on the outside interface. The instance speaks only on the sync
 * link, by unicast to the peer: on the inside LAN any node could send a priority-255 advert and take every
 * cluster's traffic. The inside and outside links are tracked, so losing either faults the gateway. One
 * instance is what makes them always move together, and its structure never changes as egress IPs come
 * and go: adding an instance or a sync group on reload makes keepalived re-initialise every instance to
 * BACKUP, a needless failover on every new egress IP (seen with keepalived 2.2.7).
 */
export function keepalivedView(config: Config, ha: HaConfig, egressIps: readonly string[], files: { notifyFifo: string; healthFile: string }): KeepalivedView {
  const inside = config.network.inside.interface;
  const outside = config.network.outside.interface;
  const insideVips = ha.insideVips.map((text, i) => parseInterfaceAddress(text, `ha.insideVips.${i}`));
  const line = (text: string, iface: string) => `${text} dev ${iface}`;
  const egress = egressIps.map((a) => line(`${a}/${hostPrefixLength(a)}`, outside));
  const advertSeconds = (ha.advertIntervalMs / 1000).toFixed(3).replace(/0+$/, "").replace(/\.$/, "");
  const instance: VrrpInstanceView = {
    name: "egw_inside", interface: ha.syncLink.interface, routerId: ha.virtualRouterIds.inside, priority: ha.priority, advertSeconds,
    unicast: { source: ha.syncLink.address, peers: [ha.peer.address] },
    trackInterfaces: [inside, outside],
    advertised: insideVips.filter((v) => v.family === 4).map((v) => line(v.text, inside)),
    excluded: [...insideVips.filter((v) => v.family === 6).map((v) => line(v.text, inside)), ...egress],
  };
  return {
    generatedFor: config.gateway.name,
    routerId: config.gateway.name,
    notifyFifo: files.notifyFifo,
    healthFile: files.healthFile,
    instances: [instance],
  };
}
