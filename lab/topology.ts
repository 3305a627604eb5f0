// The smallest topology that exercises the egress gateway end to end:
//
//   podA ─┐
//   podB ─┼─ node (routes, forwards, no NAT) ── inside [gateway] outside ── server (whoami)
//   podC ─┘
//
// The gateway is left unconfigured beyond addresses: forwarding, routes toward the pods and NAT are the job of the
// daemon under test. The server has no route toward the pods, so a reply only arrives if the gateway translated the
// source to an address on the outside network.
import { Netns, uniqueSuffix, veth } from './netns.js';

export const ADDR = {
  gateway: {
    inside4: '172.31.0.1',
    inside6: 'fd00:172:31::1',
    outside4: '203.0.113.1',
    outside6: '2001:db8::1',
  },
  node: { v4: '172.31.0.11', v6: 'fd00:172:31::11' },
  server: { v4: '203.0.113.200', v6: '2001:db8::200' },
  insideNet: { v4: '172.31.0.0/24', v6: 'fd00:172:31::/64' },
  outsideNet: { v4: '203.0.113.0/24', v6: '2001:db8::/64' },
  podRange: { v4: '10.244.0.0/16', v6: 'fd00:10:244::/48' },
  pods: {
    a: {
      v4: '10.244.1.5', v6: 'fd00:10:244:1::5',
      gw4: '10.244.1.1', gw6: 'fd00:10:244:1::1',
      cidr4: '10.244.1.0/26', cidr6: 'fd00:10:244:1::/64',
    },
    b: {
      v4: '10.244.1.69', v6: 'fd00:10:244:2::5',
      gw4: '10.244.1.65', gw6: 'fd00:10:244:2::1',
      cidr4: '10.244.1.64/26', cidr6: 'fd00:10:244:2::/64',
    },
    c: {
      v4: '10.244.2.5', v6: 'fd00:10:244:3::5',
      gw4: '10.244.2.1', gw6: 'fd00:10:244:3::1',
      cidr4: '10.244.2.0/24', cidr6: 'fd00:10:244:3::/64',
    },
  },
} as const;

export type PodName = keyof typeof ADDR.pods;

export interface GatewayTopology {
  gateway: Netns;
  node: Netns;
  server: Netns;
  pods: Record<PodName, Netns>;
  addr: typeof ADDR;
  /** All namespaces of this topology, for leak checks. */
  namespaces: Netns[];
  destroy(): Promise<void>;
}

// Set explicitly in every namespace: IPv4 defaults are inherited from the host, which may forward or filter.
export const NAMESPACE_BASELINE = {
  'net.ipv4.ip_forward': 0,
  'net.ipv6.conf.all.forwarding': 0,
  'net.ipv4.conf.all.rp_filter': 0,
  'net.ipv4.conf.default.rp_filter': 0,
  'net.ipv6.conf.all.accept_dad': 0,
  'net.ipv6.conf.default.accept_dad': 0,
};

const prefixLen = (cidr: string): string => cidr.slice(cidr.indexOf('/'));

/**
 * Creates namespaces named `PREFIX-ROLE` with the baseline sysctls and remembers them, so that a topology
 * that fails half-way (or is done) can destroy exactly what it created.
 */
export function namespaceFactory(prefix: string) {
  const created: Netns[] = [];
  return {
    created,
    make: async (role: string): Promise<Netns> => {
      const ns = await Netns.create(`${prefix}-${role}`);
      created.push(ns);
      await ns.sysctl(NAMESPACE_BASELINE);
      return ns;
    },
    destroy: async (): Promise<void> => {
      await Promise.all(created.map((ns) => ns.destroy()));
    },
  };
}

export async function buildGatewayTopology(): Promise<GatewayTopology> {
  const { created, make, destroy } = namespaceFactory(`egwt-${uniqueSuffix()}`);

  try {
    // allSettled, not all: on a failure every namespace already being created must be in `created` before cleanup.
    const settled = await Promise.allSettled(['gw', 'node', 'server', 'poda', 'podb', 'podc'].map(make));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [gateway, node, server, a, b, c] = settled.map((r) => (r as PromiseFulfilledResult<Netns>).value) as [
      Netns, Netns, Netns, Netns, Netns, Netns,
    ];
    const pods: Record<PodName, Netns> = { a, b, c };
    const g = ADDR.gateway;
    const inside = prefixLen(ADDR.insideNet.v4);
    const inside6 = prefixLen(ADDR.insideNet.v6);
    const outside = prefixLen(ADDR.outsideNet.v4);
    const outside6 = prefixLen(ADDR.outsideNet.v6);

    await veth(
      { ns: gateway, name: 'inside', addresses: [g.inside4 + inside, g.inside6 + inside6] },
      { ns: node, name: 'eth0', addresses: [ADDR.node.v4 + inside, ADDR.node.v6 + inside6] },
    );
    await veth(
      { ns: gateway, name: 'outside', addresses: [g.outside4 + outside, g.outside6 + outside6] },
      { ns: server, name: 'eth0', addresses: [ADDR.server.v4 + outside, ADDR.server.v6 + outside6] },
    );

    // The node is a plain router: pod traffic goes to the gateway un-masqueraded.
    await node.sysctl({ 'net.ipv4.ip_forward': 1, 'net.ipv6.conf.all.forwarding': 1 });
    await node.ip(['route', 'add', 'default', 'via', g.inside4]);
    await node.ip(['-6', 'route', 'add', 'default', 'via', g.inside6]);

    for (const [key, ns] of Object.entries(pods) as [PodName, Netns][]) {
      const p = ADDR.pods[key];
      await veth(
        { ns: node, name: `vpod${key}`, addresses: [p.gw4 + prefixLen(p.cidr4), p.gw6 + prefixLen(p.cidr6)] },
        { ns, name: 'eth0', addresses: [p.v4 + prefixLen(p.cidr4), p.v6 + prefixLen(p.cidr6)] },
      );
      await ns.ip(['route', 'add', 'default', 'via', p.gw4]);
      await ns.ip(['-6', 'route', 'add', 'default', 'via', p.gw6]);
    }

    return { gateway, node, server, pods, addr: ADDR, namespaces: [...created], destroy };
  } catch (error) {
    await destroy();
    throw error;
  }
}
