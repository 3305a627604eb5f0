// Two gateways sharing an inside and an outside LAN, joined by a dedicated sync link:
//
//   podA ─┐                      ┌─ gw-a ─┐
//   podB ─┼─ node ── [inside LAN]┤  sync  ├[outside LAN] ── server
//   podC ─┘                      └─ gw-b ─┘
//
// The LANs are bridges inside a "switch" namespace of their own: nothing is attached to the host.
// The node routes to the inside VIP, which keepalived moves between the gateways with the egress IPs.
import { Netns, uniqueSuffix, veth } from "./netns.js";
import { ADDR, namespaceFactory, type PodName } from "./topology.js";

export const HA_ADDR = {
  vip: { v4: "172.31.0.1", v6: "fd00:172:31::1" },
  gateways: {
    a: { name: "gw-a", inside4: "172.31.0.2", inside6: "fd00:172:31::2", outside4: "203.0.113.2", outside6: "2001:db8::2", sync: "192.168.255.1" },
    b: { name: "gw-b", inside4: "172.31.0.3", inside6: "fd00:172:31::3", outside4: "203.0.113.3", outside6: "2001:db8::3", sync: "192.168.255.2" },
  },
  node: ADDR.node,
  server: ADDR.server,
  pods: ADDR.pods,
} as const;

export type GatewayKey = keyof typeof HA_ADDR.gateways;

export interface HaTopology {
  gateways: Record<GatewayKey, Netns>;
  node: Netns;
  server: Netns;
  switch: Netns;
  pods: Record<PodName, Netns>;
  namespaces: Netns[];
  /** Takes a gateway's links down, as when its VM dies. */
  cutGateway(key: GatewayKey): Promise<void>;
  restoreGateway(key: GatewayKey): Promise<void>;
  /** Cuts or restores only the sync link (replication and conntrackd), leaving the LANs up. */
  setSyncLink(up: boolean): Promise<void>;
  destroy(): Promise<void>;
}

export interface HaTopologyOptions {
  /** Namespace names are `PREFIX-ROLE` (default `egwh-` and a unique suffix); the lab uses a fixed prefix. */
  prefix?: string;
}

export async function buildHaTopology(options: HaTopologyOptions = {}): Promise<HaTopology> {
  const { created, make, destroy } = namespaceFactory(options.prefix ?? `egwh-${uniqueSuffix()}`);
  try {
    const [sw, gwA, gwB, node, server, a, b, c] = await Promise.all(["sw", "gwa", "gwb", "node", "server", "poda", "podb", "podc"].map(make)) as
      [Netns, Netns, Netns, Netns, Netns, Netns, Netns, Netns];
    await sw.ip(["link", "add", "name", "lan-in", "type", "bridge"]);
    await sw.ip(["link", "add", "name", "lan-out", "type", "bridge"]);
    await sw.ip(["link", "set", "dev", "lan-in", "up"]);
    await sw.ip(["link", "set", "dev", "lan-out", "up"]);
    const plug = async (ns: Netns, name: string, addresses: string[], bridge: string, port: string) => {
      await veth({ ns, name, addresses }, { ns: sw, name: port });
      await sw.ip(["link", "set", "dev", port, "master", bridge]);
    };
    const g = HA_ADDR.gateways;
    await plug(gwA, "inside", [`${g.a.inside4}/24`, `${g.a.inside6}/64`], "lan-in", "ga-in");
    await plug(gwB, "inside", [`${g.b.inside4}/24`, `${g.b.inside6}/64`], "lan-in", "gb-in");
    await plug(node, "eth0", [`${ADDR.node.v4}/24`, `${ADDR.node.v6}/64`], "lan-in", "node-in");
    await plug(gwA, "outside", [`${g.a.outside4}/24`, `${g.a.outside6}/64`], "lan-out", "ga-out");
    await plug(gwB, "outside", [`${g.b.outside4}/24`, `${g.b.outside6}/64`], "lan-out", "gb-out");
    await plug(server, "eth0", [`${ADDR.server.v4}/24`, `${ADDR.server.v6}/64`], "lan-out", "srv-out");
    await veth({ ns: gwA, name: "sync", addresses: [`${g.a.sync}/30`] }, { ns: gwB, name: "sync", addresses: [`${g.b.sync}/30`] });

    await node.sysctl({ "net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1 });
    await node.ip(["route", "add", "default", "via", HA_ADDR.vip.v4]);
    await node.ip(["-6", "route", "add", "default", "via", HA_ADDR.vip.v6]);
    const pods: Record<PodName, Netns> = { a, b, c };
    for (const [key, ns] of Object.entries(pods) as [PodName, Netns][]) {
      const p = ADDR.pods[key];
      const len = (cidr: string) => cidr.slice(cidr.indexOf("/"));
      await veth({ ns: node, name: `vpod${key}`, addresses: [p.gw4 + len(p.cidr4), p.gw6 + len(p.cidr6)] },
        { ns, name: "eth0", addresses: [p.v4 + len(p.cidr4), p.v6 + len(p.cidr6)] });
      await ns.ip(["route", "add", "default", "via", p.gw4]);
      await ns.ip(["-6", "route", "add", "default", "via", p.gw6]);
    }
    const gateways = { a: gwA, b: gwB };
    const ports = { a: ["ga-in", "ga-out"], b: ["gb-in", "gb-out"] } as const;
    const setLinks = async (key: GatewayKey, state: "up" | "down") => {
      // Cutting at the switch is what a dead VM looks like to its neighbours; the sync link goes too.
      for (const port of ports[key]) await sw.ip(["link", "set", "dev", port, state]);
      await gateways[key].ip(["link", "set", "dev", "sync", state]);
    };
    return {
      gateways, node, server, switch: sw, pods, namespaces: [...created],
      cutGateway: (key) => setLinks(key, "down"),
      restoreGateway: (key) => setLinks(key, "up"),
      setSyncLink: async (up) => {
        await gwA.ip(["link", "set", "dev", "sync", up ? "up" : "down"]);
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}
