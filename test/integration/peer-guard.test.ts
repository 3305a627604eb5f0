import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { uniqueSuffix, veth, type Netns } from "../../lab/netns.js";
import { namespaceFactory } from "../../lab/topology.js";
import { batch } from "../../appliance/nft/json.js";
import { desiredNftState, renderFull, type RulesetOptions } from "../../appliance/nft/ruleset.js";

const isRoot = process.getuid?.() === 0;

const PEER_GUARD = { syncInterface: "sync", localAddress: "192.168.255.1", peerAddress: "192.168.255.2", conntrackdPort: 3780, replicationPort: 8443 };
const OPTIONS: RulesetOptions = {
  table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop",
  sourceBinding: "next-hop", failClosedMark: 0x10000000, peerGuard: PEER_GUARD,
};
const GUARDS = { claimed: ["10.244.0.0/16", "fd00:10:244::/48"], bound: [{ mac: "02:00:00:00:00:11", prefix: "10.244.0.0/16" }, { mac: "02:00:00:00:00:11", prefix: "fd00:10:244::/48" }] };
const MAPPINGS = [{ cluster: "prod", name: "a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", destinations: ["198.51.100.0/24"], excludedDestinations: [], labels: {} }];

// Sends `count` UDP datagrams (on a connected socket, so an ICMP port unreachable comes back as ECONNREFUSED) or
// one TCP connection attempt to host:port, and prints what came back: "refused" means the packets got through our
// chain to the stack (nothing listens there); "nothing" means no answer within waitMs (0: exit once sent).
const SEND = `
const [proto, host, port, count, waitMs] = process.argv.slice(1);
const done = (result) => { process.stdout.write(result); process.exit(0); };
if (Number(waitMs) > 0) setTimeout(() => done('nothing'), Number(waitMs));
if (proto === 'udp') {
  const s = require('node:dgram').createSocket('udp4');
  s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code));
  let sent = 0;
  const last = () => { if (++sent === Number(count) && Number(waitMs) === 0) done('sent'); };
  s.connect(Number(port), host, () => { for (let i = 0; i < Number(count); i++) s.send('x', last); });
} else {
  const c = require('node:net').connect({ host, port: Number(port) });
  c.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code));
  c.on('connect', () => done('connected'));
}
`;

/**
 * The full ruleset with the peer guard, in a namespace: the kernel accepts it, and the guards count and drop what
 * comes from anyone but the peer on the sync link.
 *
 *   peer ── sync [gateway] lan ── intruder
 */
describe("peer guard in the kernel", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  const factory = namespaceFactory(`egwp-${uniqueSuffix()}`);
  let gateway: Netns;
  let peer: Netns;
  let intruder: Netns;
  let dir: string;

  const counter = async (name: string) => {
    const listing = JSON.parse(String((await gateway.exec("nft", ["-j", "list", "counter", "inet", "egress_gateway", name])).stdout)) as
      { nftables: { counter?: { packets: number } }[] };
    return listing.nftables.find((i) => i.counter)?.counter?.packets ?? -1;
  };
  const eventually = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
      await sleep(20);
    }
  };
  /** An answer is waited for only where one is expected (it comes at once; 10 s is a give-up); drops are proven by the counters. */
  const send = (from: Netns, proto: "udp" | "tcp", host: string, port: number, count = 1, waitMs = 10_000) =>
    from.exec(process.execPath, ["-e", SEND, proto, host, String(port), String(count), String(waitMs)]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-peer-guard-"));
    [gateway, peer, intruder] = await Promise.all(["gw", "peer", "intruder"].map(factory.make)) as [Netns, Netns, Netns];
    await veth({ ns: gateway, name: "sync", addresses: ["192.168.255.1/30"] }, { ns: peer, name: "sync", addresses: ["192.168.255.2/30"] });
    await veth({ ns: gateway, name: "lan", addresses: ["10.99.0.1/24"] }, { ns: intruder, name: "eth0", addresses: ["10.99.0.2/24"] });
  });

  after(async () => {
    await factory.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("nft -c -j -f accepts the full ruleset with the peer guard (IPv4 and IPv6 sync addresses) and changes nothing", async () => {
    for (const [label, options] of [["v4", OPTIONS], ["v6", { ...OPTIONS, peerGuard: { ...PEER_GUARD, localAddress: "fd00:ffff::1", peerAddress: "fd00:ffff::2" } }]] as const) {
      const file = join(dir, `full-${label}.json`);
      writeFileSync(file, JSON.stringify(batch(renderFull(options, desiredNftState(options, MAPPINGS, ["203.0.113.10"], GUARDS)))));
      const result = await gateway.exec("nft", ["-c", "-j", "-f", file], { reject: false });
      assert.equal(result.exitCode, 0, String(result.stderr));
    }
    assert.equal(String((await gateway.exec("nft", ["list", "ruleset"])).stdout).trim(), "", "the check left the namespace empty");
  });

  it("applied, it drops and counts conntrackd and replication traffic from anyone but the peer on the sync link", async () => {
    const file = join(dir, "full.json");
    writeFileSync(file, JSON.stringify(batch(renderFull(OPTIONS, desiredNftState(OPTIONS, MAPPINGS, ["203.0.113.10"], GUARDS)))));
    await gateway.exec("nft", ["-j", "-f", file]);
    for (const name of ["guard_vrrp", "guard_conntrackd", "guard_replication", "guard_spoofed"]) assert.equal(await counter(name), 0, name);

    assert.equal(String((await send(peer, "udp", "192.168.255.1", 3780, 5)).stdout), "refused", "the peer's datagrams reach conntrackd's port");
    assert.equal(String((await send(peer, "tcp", "192.168.255.1", 8443)).stdout), "refused", "the peer's SYN reaches the replication port");
    assert.equal(await counter("guard_conntrackd"), 0);
    assert.equal(await counter("guard_replication"), 0);

    await send(intruder, "udp", "10.99.0.1", 3780, 5, 0);
    await eventually(async () => (await counter("guard_conntrackd")) === 5, "the intruder's 5 datagrams dropped and counted");
    await send(intruder, "tcp", "10.99.0.1", 8443, 1, 200);
    await eventually(async () => (await counter("guard_replication")) >= 1, "the intruder's SYN dropped and counted");
    // From the peer's address but not over the sync link (the intruder forges it): still dropped.
    await intruder.ip(["addr", "add", "192.168.255.2/32", "dev", "eth0"]);
    await intruder.ip(["route", "add", "192.168.255.1/32", "dev", "eth0", "src", "192.168.255.2"]);
    await gateway.exec("sysctl", ["-q", "-w", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.lan.rp_filter=0"]);
    await send(intruder, "udp", "192.168.255.1", 3780, 2, 0);
    await eventually(async () => (await counter("guard_conntrackd")) === 7, "the forged datagrams dropped and counted");

    assert.equal(String((await send(intruder, "udp", "10.99.0.1", 5353, 1)).stdout), "refused", "traffic to other ports is not ours to judge");
    assert.equal(await counter("guard_conntrackd"), 7);
  });
});
