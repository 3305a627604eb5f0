import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startHaGroup, type HaGroup } from "../../lab/ha-group.js";
import { buildHaTopology, HA_ADDR, type GatewayKey, type HaTopology } from "../../lab/ha-topology.js";
import type { Netns } from "../../lab/netns.js";
import { sendForgedAdverts, VRRP_MULTICAST, type ForgedAdvert } from "../../lab/vrrp-forge.js";

const isRoot = process.getuid?.() === 0;
const VRID = 51;

async function macOf(ns: Netns, device: string): Promise<string> {
  const links = JSON.parse((await ns.exec("ip", ["-j", "link", "show", "dev", device])).stdout) as { address: string }[];
  return links[0]?.address ?? assert.fail(`no MAC for ${device}`);
}

async function vrrpGuardDrops(ns: Netns): Promise<number> {
  const listing = JSON.parse((await ns.exec("nft", ["-j", "list", "counter", "inet", "egress_gateway", "guard_vrrp"])).stdout) as { nftables: { counter?: { packets: number } }[] };
  return listing.nftables.find((item) => item.counter)?.counter?.packets ?? 0;
}

async function holdsVip(ns: Netns): Promise<boolean> {
  return (await ns.exec("ip", ["-o", "-4", "addr", "show", "dev", "inside"])).stdout.includes(`${HA_ADDR.vip.v4}/`);
}

/**
 * A hostile node on the inside LAN forges VRRP adverts: priority 255 to take the VIPs (and with them every
 * cluster's traffic), priority 0 in the master's name to make the backup take over, by multicast and by unicast,
 * with its own source address and with the gateways' sync addresses. The gateways speak VRRP only over the sync
 * link and believe only the peer's address there, so none of it may change a role or move the VIP.
 */
describe("forged VRRP adverts from the inside LAN change nothing", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: HaTopology;
  let group: HaGroup;

  before(async () => {
    topo = await buildHaTopology();
    group = await startHaGroup(topo);
  });

  after(async () => {
    await group?.stop();
    await topo?.destroy();
  });

  it("keeps gw-a master and gw-b backup, with the VIP on gw-a only, through 2 s of forged adverts", async () => {
    assert.equal(await group.role("a"), "master");
    assert.equal(await group.role("b"), "backup");
    const node = await macOf(topo.node, "eth0");
    const insideMac = { a: await macOf(topo.gateways.a, "inside"), b: await macOf(topo.gateways.b, "inside") };
    const g = HA_ADDR.gateways;
    const take = { virtualRouterId: VRID, priority: 255, addresses: [HA_ADDR.vip.v4] };
    const adverts: ForgedAdvert[] = [
      { ...take, sourceMac: node, destinationMac: VRRP_MULTICAST.mac, sourceIp: HA_ADDR.node.v4, destinationIp: VRRP_MULTICAST.ip },
      { ...take, sourceMac: node, destinationMac: insideMac.a, sourceIp: HA_ADDR.node.v4, destinationIp: g.a.inside4 },
      // In the peer's name, to each gateway's inside and sync addresses, arriving on the inside LAN.
      { ...take, sourceMac: node, destinationMac: insideMac.a, sourceIp: g.b.sync, destinationIp: g.a.sync },
      { ...take, sourceMac: node, destinationMac: insideMac.a, sourceIp: g.b.sync, destinationIp: g.a.inside4 },
      // "The master is leaving" (priority 0) in gw-a's name, to the backup: it would take over at once.
      { ...take, priority: 0, sourceMac: node, destinationMac: insideMac.b, sourceIp: g.a.sync, destinationIp: g.b.sync },
      { ...take, priority: 0, sourceMac: node, destinationMac: VRRP_MULTICAST.mac, sourceIp: g.a.inside4, destinationIp: VRRP_MULTICAST.ip },
    ];
    const seen: Record<GatewayKey, Set<string>> = { a: new Set(), b: new Set() };
    let sending = true;
    const watching = (async () => {
      while (sending) {
        for (const key of ["a", "b"] as const) seen[key].add(await group.role(key));
      }
    })();
    try {
      await sendForgedAdverts(topo.node, "eth0", adverts, 100, 20);
    } finally {
      sending = false;
      await watching;
    }
    // Polled throughout 2 s of adverts: a role change takes at most a few 200 ms advert intervals to show.
    for (const key of ["a", "b"] as const) seen[key].add(await group.role(key));
    assert.deepEqual([...seen.a], ["master"], "gw-a stayed master throughout");
    assert.deepEqual([...seen.b], ["backup"], "gw-b stayed backup throughout");
    assert.equal(await holdsVip(topo.gateways.a), true);
    assert.equal(await holdsVip(topo.gateways.b), false);
    // Dropped and counted by our table's input chain before keepalived could even look at them.
    for (const key of ["a", "b"] as const) assert.ok((await vrrpGuardDrops(topo.gateways[key])) > 0, `gw-${key} counted the forged adverts`);
  });
});
