// One gateway on a shared inside LAN, as in production: every node (and anything else) on the LAN can send to it.
//
//   podA ─┐
//   podB ─┼─ node ──┐
//            rogue ─┼─ [inside LAN, a bridge] ── inside [gateway] outside ── server
//
// The rogue is another host on the inside LAN (a node of another cluster, or anything compromised). The LAN is a
// bridge inside a "switch" namespace of its own: nothing is attached to the host.
import { uniqueSuffix, veth, type Netns } from './netns.js';
import { ADDR, namespaceFactory, type PodName } from './topology.js';

export const LAN_ADDR = {
  ...ADDR,
  rogue: { v4: '172.31.0.12', v6: 'fd00:172:31::12' },
} as const;

export interface LanTopology {
  gateway: Netns;
  node: Netns;
  rogue: Netns;
  server: Netns;
  switch: Netns;
  pods: Record<PodName, Netns>;
  namespaces: Netns[];
  /** The MAC of `dev` in `ns`. */
  mac(ns: Netns, dev: string): Promise<string>;
  destroy(): Promise<void>;
}

export async function buildLanTopology(): Promise<LanTopology> {
  const { created, make, destroy } = namespaceFactory(`egwl-${uniqueSuffix()}`);
  try {
    const settled = await Promise.allSettled(['sw', 'gw', 'node', 'rogue', 'server', 'poda', 'podb', 'podc'].map(make));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [sw, gateway, node, rogue, server, a, b, c] = settled.map((r) => (r as PromiseFulfilledResult<Netns>).value) as
      [Netns, Netns, Netns, Netns, Netns, Netns, Netns, Netns];
    await sw.ip(['link', 'add', 'name', 'lan-in', 'type', 'bridge']);
    await sw.ip(['link', 'set', 'dev', 'lan-in', 'up']);
    const plug = async (ns: Netns, name: string, addresses: string[], port: string) => {
      await veth({ ns, name, addresses }, { ns: sw, name: port });
      await sw.ip(['link', 'set', 'dev', port, 'master', 'lan-in']);
    };
    const g = ADDR.gateway;
    await plug(gateway, 'inside', [`${g.inside4}/24`, `${g.inside6}/64`], 'gw-in');
    await plug(node, 'eth0', [`${ADDR.node.v4}/24`, `${ADDR.node.v6}/64`], 'node-in');
    await plug(rogue, 'eth0', [`${LAN_ADDR.rogue.v4}/24`, `${LAN_ADDR.rogue.v6}/64`], 'rogue-in');
    await veth(
      { ns: gateway, name: 'outside', addresses: [`${g.outside4}/24`, `${g.outside6}/64`] },
      { ns: server, name: 'eth0', addresses: [`${ADDR.server.v4}/24`, `${ADDR.server.v6}/64`] },
    );
    for (const ns of [node, rogue]) {
      await ns.ip(['route', 'add', 'default', 'via', g.inside4]);
      await ns.ip(['-6', 'route', 'add', 'default', 'via', g.inside6]);
    }
    await node.sysctl({ 'net.ipv4.ip_forward': 1, 'net.ipv6.conf.all.forwarding': 1 });
    const pods: Record<PodName, Netns> = { a, b, c };
    for (const [key, ns] of Object.entries(pods) as [PodName, Netns][]) {
      const p = ADDR.pods[key];
      const len = (cidr: string) => cidr.slice(cidr.indexOf('/'));
      await veth({ ns: node, name: `vpod${key}`, addresses: [p.gw4 + len(p.cidr4), p.gw6 + len(p.cidr6)] },
        { ns, name: 'eth0', addresses: [p.v4 + len(p.cidr4), p.v6 + len(p.cidr6)] });
      await ns.ip(['route', 'add', 'default', 'via', p.gw4]);
      await ns.ip(['-6', 'route', 'add', 'default', 'via', p.gw6]);
    }
    const mac = async (ns: Netns, dev: string) =>
      ((JSON.parse(String((await ns.exec('ip', ['-j', 'link', 'show', 'dev', dev])).stdout)) as { address: string }[])[0]?.address ?? '');
    return { gateway, node, rogue, server, switch: sw, pods, namespaces: [...created], mac, destroy };
  } catch (error) {
    await destroy();
    throw error;
  }
}
