import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMetrics } from "../../appliance/metrics.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import { desiredNftState, renderFull, type RulesetOptions } from "../../appliance/nft/ruleset.js";
import { FakeSystem } from "../helpers/fake-system.js";

const OPTIONS: RulesetOptions = {
  table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop", sourceBinding: "next-hop",
  peerGuard: { syncInterface: "sync", localAddress: "192.168.255.1", peerAddress: "192.168.255.2", conntrackdPort: 3780, replicationPort: 8443 },
};

describe("guard drop counters", () => {
  it("NftClient.readGuardCounters reads the guard_* counters by guard name, and nothing else", async () => {
    const system = new FakeSystem();
    const nft = new NftClient(system);
    assert.deepEqual(await nft.readGuardCounters("egress_gateway"), new Map(), "no table: no counters");
    await nft.apply(renderFull(OPTIONS, desiredNftState(OPTIONS, [], ["203.0.113.10"])));
    system.counterPackets.set("guard_spoofed", 7);
    system.counterPackets.set("guard_vrrp", 3);
    system.counterPackets.set("out_v4_203_0_113_10", 1000);
    const guards = await nft.readGuardCounters("egress_gateway");
    assert.deepEqual([...guards.keys()].sort(), ["conntrackd", "replication", "spoofed", "vrrp"]);
    assert.equal(guards.get("spoofed")?.packets, 7);
    assert.equal(guards.get("vrrp")?.packets, 3);
    assert.equal(guards.get("conntrackd")?.packets, 0);
  });

  it("egw_guard_drops_total{guard} exposes them", async () => {
    const metrics = createMetrics({
      storeRevision: () => 1, appliedRevision: () => 1, counts: () => ({ mappings: 0, routes: 0, egressIps: 0, clusters: 0 }),
      egressCounters: async () => [],
      guardDrops: async () => new Map([["spoofed", { packets: 7 }], ["vrrp", { packets: 3 }]]),
    });
    const text = await metrics.registry.metrics();
    assert.match(text, /^egw_guard_drops_total\{guard="spoofed"\} 7$/m);
    assert.match(text, /^egw_guard_drops_total\{guard="vrrp"\} 3$/m);
  });
});
