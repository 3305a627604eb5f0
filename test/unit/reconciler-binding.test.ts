import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { NeighbourManager, parseNeighbourEvent } from "../../appliance/kernel/neighbours.js";
import { RouteManager } from "../../appliance/kernel/routes.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import type { DesiredState } from "../../appliance/reconcile/desired-state.js";
import { Reconciler } from "../../appliance/reconcile/reconciler.js";
import { elementKeyText, FakeSystem } from "../helpers/fake-system.js";

const NODE = "172.31.0.11";
const NODE6 = "fd00:172:31::11";
const MAC = "02:00:00:00:00:11";
const NEW_MAC = "02:00:00:00:00:99";

describe("Reconciler: source binding by next hop", () => {
  let system: FakeSystem;
  let desired: DesiredState;
  let reconciler: Reconciler;

  const bound = (v: "v4" | "v6" = "v4") => [...(system.sets.get(`bound_${v}`)?.elem.values() ?? [])].map(elementKeyText).sort();
  const claimed = (v: "v4" | "v6" = "v4") => [...(system.sets.get(`claimed_${v}`)?.elem.values() ?? [])].map(elementKeyText).sort();

  beforeEach(() => {
    system = new FakeSystem();
    system.lan.set(NODE, MAC);
    system.lan.set(NODE6, MAC);
    desired = {
      revision: 1,
      mappings: [{ cluster: "prod", name: "a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: {} }],
      routes: [{ cluster: "prod", prefix: "10.244.0.0/16", via: NODE }, { cluster: "prod", prefix: "fd00:10:244::/48", via: NODE6 }],
      egressIps: ["203.0.113.10"],
      sourceRanges: [{ cluster: "prod", cidr: "10.244.0.0/16" }, { cluster: "prod", cidr: "fd00:10:244::/48" }, { cluster: "dev", cidr: "10.245.0.0/16" }],
    };
    reconciler = new Reconciler({
      readDesired: () => structuredClone(desired),
      nft: new NftClient(system),
      routes: new RouteManager(system, 211, "inside"),
      neighbours: new NeighbourManager(system, "inside"),
      ruleset: { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop", sourceBinding: "next-hop" },
      log: pino({ enabled: false }),
    });
  });

  it("claims every cluster's source ranges and binds each route to its next hop's MAC, from a managed neighbour entry", async () => {
    const report = await reconciler.reconcile();
    assert.deepEqual(claimed(), ["10.244.0.0/16", "10.245.0.0/16"], "a cluster without routes still claims its ranges");
    assert.deepEqual(claimed("v6"), ["fd00:10:244::/48"]);
    assert.deepEqual(bound(), [`${MAC} . 10.244.0.0/16`]);
    assert.deepEqual(bound("v6"), [`${MAC} . fd00:10:244::/48`]);
    assert.deepEqual(system.batchLines().filter((l) => l.startsWith("neigh")).sort(),
      [`neigh replace ${NODE} dev inside managed`, `neigh replace ${NODE6} dev inside managed`], "one ip -batch, kernel-managed entries");
    assert.equal(system.neighbours.get(NODE)?.managed, true);
    assert.deepEqual(report.unresolvedNextHops, []);
  });

  it("a next hop whose MAC is unknown binds nothing (its pods are dropped) and is reported until it resolves", async () => {
    system.lan.delete(NODE);
    const report = await reconciler.reconcile();
    assert.deepEqual(bound(), [], "no MAC, no binding");
    assert.deepEqual(report.unresolvedNextHops, [NODE]);
    system.lan.set(NODE, MAC);
    system.resolve(NODE);
    reconciler.forgetNeighbours();
    const next = await reconciler.reconcile();
    assert.equal(next.kind, "incremental");
    assert.deepEqual(bound(), [`${MAC} . 10.244.0.0/16`]);
    assert.deepEqual(next.unresolvedNextHops, []);
  });

  it("a neighbour event with a new MAC for a next hop forgets the binding; the next pass moves it", async () => {
    await reconciler.reconcile();
    system.moveHost(NODE, NEW_MAC);
    const event = parseNeighbourEvent(`${NODE} lladdr ${NEW_MAC} managed STALE`);
    assert.ok(event);
    assert.equal(reconciler.neighbourChanged(event), true);
    system.calls = [];
    const report = await reconciler.reconcile();
    assert.equal(report.kind, "incremental", "only the binding's elements change");
    assert.deepEqual(bound(), [`${NEW_MAC} . 10.244.0.0/16`]);
  });

  it("when one address of a node moves to a new MAC, its other next hops bound to the old MAC are resolved afresh", async () => {
    await reconciler.reconcile();
    // The node was replaced: all its addresses answer from the new MAC, but only the IPv4 entry has heard from it.
    system.lan.set(NODE6, NEW_MAC);
    system.moveHost(NODE, NEW_MAC);
    assert.equal(reconciler.neighbourChanged({ address: NODE, mac: NEW_MAC, deleted: false }), true);
    system.calls = [];
    await reconciler.reconcile();
    assert.ok(system.batchLines().includes(`neigh del ${NODE6} dev inside`), `re-resolved: ${system.batchLines().join("; ")}`);
    assert.deepEqual(bound(), [`${NEW_MAC} . 10.244.0.0/16`]);
    assert.deepEqual(bound("v6"), [`${NEW_MAC} . fd00:10:244::/48`], "the IPv6 binding followed without waiting for the kernel's probe");
  });

  it("a replaced node heard first on its link-local address gets its next hops resolved afresh", async () => {
    system.neighbours.set("fe80::11", { dst: "fe80::11", lladdr: MAC, state: "STALE", managed: false });
    await reconciler.reconcile();
    system.lan.set(NODE, NEW_MAC);
    system.lan.set(NODE6, NEW_MAC);
    assert.equal(reconciler.neighbourChanged({ address: "fe80::11", mac: NEW_MAC, deleted: false }), true);
    await reconciler.reconcile();
    assert.deepEqual(bound(), [`${NEW_MAC} . 10.244.0.0/16`]);
    assert.deepEqual(bound("v6"), [`${NEW_MAC} . fd00:10:244::/48`]);
    assert.equal(reconciler.neighbourChanged({ address: "fe80::22", mac: "02:00:00:00:00:22", deleted: false }), false, "an unknown host appearing changes nothing");
  });

  it("state changes without a new MAC, and other hosts' entries, change nothing", async () => {
    await reconciler.reconcile();
    for (const line of [`${NODE} lladdr ${MAC} managed STALE`, `${NODE} lladdr ${MAC} managed PROBE`, `${NODE} managed FAILED`, `172.31.0.99 lladdr ${NEW_MAC} REACHABLE`]) {
      const event = parseNeighbourEvent(line);
      assert.ok(event, line);
      assert.equal(reconciler.neighbourChanged(event), false, line);
    }
    system.calls = [];
    assert.equal((await reconciler.reconcile()).kind, "none");
    assert.deepEqual(system.calls, [], "no system calls");
  });

  it("the drift check notices a MAC that changed without an event", async () => {
    await reconciler.reconcile();
    const entry = system.neighbours.get(NODE);
    assert.ok(entry);
    entry.lladdr = NEW_MAC;
    const drift = await reconciler.detectDrift();
    assert.deepEqual(drift, [`next hop ${NODE}: MAC ${MAC} is now ${NEW_MAC}`]);
    await reconciler.reconcile();
    assert.deepEqual(bound(), [`${NEW_MAC} . 10.244.0.0/16`]);
  });

  it("removes only the managed entries it added when a next hop goes away; a pinned (PERMANENT) entry is used as is", async () => {
    system.neighbours.set("172.31.0.50", { dst: "172.31.0.50", lladdr: "02:00:00:00:00:50", state: "PERMANENT", managed: false });
    system.neighbours.set("172.31.0.60", { dst: "172.31.0.60", lladdr: "02:00:00:00:00:60", state: "REACHABLE", managed: true });
    desired = { ...desired, revision: 2, routes: [...desired.routes,
      { cluster: "prod", prefix: "10.244.250.0/24", via: "172.31.0.50" }, { cluster: "prod", prefix: "10.244.251.0/24", via: "172.31.0.60" }] };
    await reconciler.reconcile();
    assert.ok(bound().includes("02:00:00:00:00:50 . 10.244.250.0/24"), "the operator's pinned MAC binds");
    assert.equal(system.neighbours.get("172.31.0.50")?.state, "PERMANENT", "and is never turned into a managed entry");
    desired = { ...desired, revision: 3, routes: [] };
    await reconciler.reconcile();
    assert.deepEqual([...system.neighbours.keys()].sort(), ["172.31.0.50", "172.31.0.60"],
      "ours are gone; the pinned one and the managed one a previous process made are left alone");
    assert.deepEqual(bound(), []);
  });

  it("a second pass with nothing changed makes no system calls at all", async () => {
    await reconciler.reconcile();
    system.calls = [];
    assert.equal((await reconciler.reconcile()).kind, "none");
    assert.deepEqual(system.calls, []);
  });

  it("with source binding off there are no neighbour entries and no guard sets", async () => {
    reconciler = new Reconciler({
      readDesired: () => structuredClone(desired),
      nft: new NftClient(system),
      routes: new RouteManager(system, 211, "inside"),
      neighbours: new NeighbourManager(system, "inside"),
      ruleset: { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop", sourceBinding: "off" },
      log: pino({ enabled: false }),
    });
    await reconciler.reconcile();
    assert.equal(system.neighbours.size, 0);
    assert.equal(system.sets.has("claimed_v4"), false);
    assert.ok(!system.rules.some((r) => r.comment.startsWith("egw:spoof-guard")));
  });
});

describe("parseNeighbourEvent", () => {
  const cases: [string, ReturnType<typeof parseNeighbourEvent>][] = [
    ["172.31.0.11 lladdr 02:00:00:00:11:12 managed STALE", { address: "172.31.0.11", mac: "02:00:00:00:11:12", deleted: false }],
    ["fd00:172:31::11 lladdr 02:AA:00:00:11:12 router managed REACHABLE", { address: "fd00:172:31::11", mac: "02:aa:00:00:11:12", deleted: false }],
    ["172.31.0.11 dev inside lladdr 02:00:00:00:11:12 REACHABLE", { address: "172.31.0.11", mac: "02:00:00:00:11:12", deleted: false }],
    ["Deleted 172.31.0.11 lladdr 02:00:00:00:11:12 managed STALE", { address: "172.31.0.11", mac: undefined, deleted: true }],
    ["172.31.0.11 managed INCOMPLETE", { address: "172.31.0.11", mac: undefined, deleted: false }],
    ["172.31.0.11 lladdr 02:00:00:00:11:12 managed FAILED", { address: "172.31.0.11", mac: undefined, deleted: false }],
    ["", undefined],
    ["some unrelated line", undefined],
  ];
  for (const [line, expected] of cases) {
    it(JSON.stringify(line), () => assert.deepEqual(parseNeighbourEvent(line), expected));
  }
});
