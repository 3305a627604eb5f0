import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { RouteManager } from "../../appliance/kernel/routes.js";
import type { Mapping } from "../../appliance/model.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import { dataplaneRevision, egressIpAddresses, readDesiredState, readMappingChanges, snapshotsTaken } from "../../appliance/reconcile/desired-state.js";
import { Reconciler } from "../../appliance/reconcile/reconciler.js";
import { createCluster, replaceCluster } from "../../appliance/service/clusters.js";
import { createEgressIp } from "../../appliance/service/egress-ips.js";
import { createMapping, deleteMapping, patchMapping, putMapping, replaceMappings } from "../../appliance/service/mappings.js";
import { deletePolicy, putFloor, putPolicy } from "../../appliance/service/policies.js";
import { NetlinkRefusal, type NetfilterTransactions, type NftMessage } from "../../appliance/system/netlink.js";
import type { Store } from "../../appliance/store/store.js";
import { FakeSystem } from "../helpers/fake-system.js";
import { seededRandom } from "../helpers/random.js";
import { mustWrite, openStore, OWN } from "./replication/replication-helpers.js";

/**
 * The pass driven by the changelog: when only mappings and their policies changed, the reconciler reads the changed
 * rows and changes their elements, instead of reading, rendering and diffing every mapping. Whatever it
 * does must leave the kernel exactly as the full pass would: each test keeps a second reconciler without the shortcut,
 * on its own fake kernel, as the oracle.
 */
const RULESET = { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop" } as const;

function gateway(store: Store, options: { shortcut: boolean; netfilter?: NetfilterTransactions }) {
  const system = new FakeSystem();
  let fullReads = 0;
  const db = store.db;
  const reconciler = new Reconciler({
    readDesired: () => {
      fullReads++;
      return readDesiredState(db);
    },
    readRevisions: () => ({ store: store.revision(), dataplane: dataplaneRevision(db), egressIps: egressIpAddresses(db), snapshots: snapshotsTaken(db) }),
    ...(options.shortcut ? { readMappingChanges: (since: number, limit: number) => readMappingChanges(db, since, limit) } : {}),
    nft: new NftClient(system),
    netfilter: options.netfilter,
    routes: new RouteManager(system, 211, "inside"),
    ruleset: RULESET,
    log: pino({ enabled: false }),
  });
  return { system, reconciler, fullReads: () => fullReads };
}

/** The kernel's sets as comparable text: set name → sorted elements. */
function kernelSets(system: FakeSystem): Record<string, string[]> {
  return Object.fromEntries([...system.sets].sort(([a], [b]) => a.localeCompare(b))
    .map(([name, set]) => [name, [...set.elem.values()].map((e) => JSON.stringify(e)).sort()]));
}

/** All of the kernel's table: sets, counters and rules. */
function kernelTable(system: FakeSystem): unknown {
  const rules = system.listing().nftables.filter((entry) => "chain" in entry || "rule" in entry);
  return { sets: kernelSets(system), counters: [...system.counters].sort(), rules };
}

function setup() {
  const store = openStore();
  for (const address of ["203.0.113.10", "203.0.113.11", "203.0.113.12"]) mustWrite(store, (tx) => createEgressIp(tx, { address }, OWN));
  mustWrite(store, (tx) => createCluster(tx, { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10", "203.0.113.11"] }));
  mustWrite(store, (tx) => createCluster(tx, { name: "dev", sourceRanges: ["10.245.0.0/16"], egressIps: ["203.0.113.12"] }));
  const fast = gateway(store, { shortcut: true });
  const oracle = gateway(store, { shortcut: false });
  const pass = async () => {
    const report = await fast.reconciler.reconcile();
    await oracle.reconciler.reconcile();
    assert.deepEqual(kernelTable(fast.system), kernelTable(oracle.system), "the shortcut left the kernel as the full pass does");
    return report;
  };
  return { store, fast, oracle, pass };
}

describe("Reconciler: passes driven by the changelog when only mappings changed", () => {
  it("changes only the changed mappings' elements, without reading the desired state, and ends where the full pass does", async () => {
    const { store, fast, pass } = setup();
    mustWrite(store, (tx) => createMapping(tx, "prod", { name: "web", sourceCidr: "10.244.1.0/24", egressIp: "203.0.113.10" }));
    await pass();
    const reads = fast.fullReads();
    fast.system.calls = [];

    mustWrite(store, (tx) => createMapping(tx, "prod", { name: "api", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11", destinations: ["198.51.100.0/24"] }));
    const report = await pass();
    assert.equal(report.kind, "incremental");
    assert.equal(report.revision, store.revision());
    assert.equal(fast.fullReads(), reads, "no full read of the store");
    const batches = fast.system.callsOf("nft").filter((c) => c.batch);
    assert.equal(batches.length, 1, "one transaction");
    assert.deepEqual(batches[0]?.batch?.nftables.filter((c) => "add" in c || "delete" in c).map((c) => Object.keys(c)[0] + " " + Object.keys(Object.values(c)[0] as object)[0]),
      ["add element"], "only the new mapping's element was sent");

    mustWrite(store, (tx) => patchMapping(tx, "prod", "web", { egressIp: "203.0.113.11" }));
    mustWrite(store, (tx) => deleteMapping(tx, "prod", "api"));
    mustWrite(store, (tx) => createMapping(tx, "dev", { name: "web", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.12" }));
    assert.equal((await pass()).kind, "incremental", "three revisions, two clusters, one pass");
    assert.equal(fast.fullReads(), reads);

    mustWrite(store, (tx) => patchMapping(tx, "prod", "web", { labels: { team: "a" } }));
    const labelsOnly = await pass();
    assert.equal(labelsOnly.kind, "none", "a label moves no element");
    assert.equal(labelsOnly.revision, store.revision());
    assert.equal(fast.fullReads(), reads);
  });

  it("matches the full pass through a long run of random creates, updates, deletes, whole-set replacements and policies", async () => {
    const { store, fast, pass } = setup();
    const random = seededRandom(7);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const names = ["a", "b", "c", "d", "e", "f"];
    const clusters = { prod: "10.244", dev: "10.245" } as const;
    const egress = { prod: ["203.0.113.10", "203.0.113.11"], dev: ["203.0.113.12"] } as const;
    // A source range that comes and goes: a full pass among the shortcuts, and one that may send nothing.
    const extraRange = { prod: "10.246.0.0/16", dev: "10.247.0.0/16" } as const;
    const input = (cluster: keyof typeof clusters, name: string) => ({
      name,
      // A fresh subnet every time, so sources never overlap: the store would refuse that.
      sourceCidr: `${clusters[cluster]}.${Math.floor(random() * 250)}.${pick([0, 64, 128])}/26`,
      egressIp: pick(egress[cluster]),
      ...(random() < 0.3 ? { destinations: [pick(["198.51.100.0/24", "192.0.2.0/25", "2001:db8::/64"].slice(0, 2))] } : {}),
    });
    const policyInput = () => ({
      defaultAction: pick(["deny", "allow"] as const),
      rules: names.filter(() => random() < 0.4).map((_, i) => ({ destinations: [{ cidr: `198.51.${100 + i}.0/24` }], protocol: pick(["tcp", "udp"] as const), ports: [{ port: 443 + i }] })),
    });
    await pass();
    let passes = 0;
    for (let step = 0; step < 150; step++) {
      const cluster = pick(["prod", "dev"] as const);
      const writes = 1 + Math.floor(random() * 3);
      for (let w = 0; w < writes; w++) {
        const kind = random();
        try {
          if (kind < 0.45) mustWrite(store, (tx) => putMapping(tx, cluster, input(cluster, pick(names))));
          else if (kind < 0.7) mustWrite(store, (tx) => deleteMapping(tx, cluster, pick(names)));
          else if (kind < 0.8) mustWrite(store, (tx) => patchMapping(tx, cluster, pick(names), { egressIp: pick(egress[cluster]) }));
          else if (kind < 0.87) mustWrite(store, (tx) => putPolicy(tx, cluster, random() < 0.3 ? null : pick(names), policyInput()));
          else if (kind < 0.9) mustWrite(store, (tx) => deletePolicy(tx, cluster, random() < 0.3 ? null : pick(names)));
          else if (kind < 0.92) mustWrite(store, (tx) => replaceCluster(tx, { name: cluster, egressIps: [...egress[cluster]], sourceRanges: [`${clusters[cluster]}.0.0/16`, ...(random() < 0.5 ? [extraRange[cluster]] : [])] }));
          else mustWrite(store, (tx) => replaceMappings(tx, cluster, names.filter(() => random() < 0.5).map((name) => input(cluster, name))));
        } catch {
          // An overlap, a missing mapping: refused by the store, nothing changed; the next write goes on.
        }
      }
      await pass();
      passes++;
    }
    assert.equal(passes, 150);
    assert.ok(fast.fullReads() <= 20, `the shortcut carried the run (${fast.fullReads()} full reads)`);
  });

  it("takes policies along (a mapping's own, a cluster's default), and the full pass for DNS names, floors and source ranges", async () => {
    const { store, fast, pass } = setup();
    mustWrite(store, (tx) => createMapping(tx, "prod", { name: "web", sourceCidr: "10.244.1.0/24", egressIp: "203.0.113.10" }));
    await pass();
    const reads = fast.fullReads();
    const cidrPolicy = { rules: [{ destinations: [{ cidr: "198.51.100.0/24" }], protocol: "tcp" as const, ports: [{ port: 443 }] }] };

    mustWrite(store, (tx) => putPolicy(tx, "dev", null, cidrPolicy));
    assert.equal((await pass()).kind, "none", "a default with no mapping to govern moves nothing");
    mustWrite(store, (tx) => createMapping(tx, "dev", { name: "web", sourceCidr: "10.245.1.0/24", egressIp: "203.0.113.12" }));
    mustWrite(store, (tx) => createMapping(tx, "dev", { name: "api", sourceCidr: "10.245.2.0/24", egressIp: "203.0.113.12" }));
    assert.equal((await pass()).kind, "incremental", "dev's default governs its new mappings");
    assert.ok(kernelSets(fast.system)["policy_allow_v4"]?.some((e) => e.includes("10.245.2.0")), "with the default's elements");
    mustWrite(store, (tx) => putPolicy(tx, "dev", "api", { ...cidrPolicy, defaultAction: "allow" }));
    mustWrite(store, (tx) => putPolicy(tx, "dev", null, { rules: [...cidrPolicy.rules, { destinations: [{ cidr: "192.0.2.0/24" }], protocol: "udp" as const, ports: [{ port: 53 }] }] }));
    await pass();
    mustWrite(store, (tx) => deletePolicy(tx, "dev", "api"));
    await pass();
    mustWrite(store, (tx) => deleteMapping(tx, "dev", "web"));
    await pass();
    assert.equal(fast.fullReads(), reads, "every one of those through the changelog");

    mustWrite(store, (tx) => putPolicy(tx, "prod", "web", { rules: [{ destinations: [{ name: "api.example.com" }], protocol: "tcp" as const, ports: [{ port: 443 }] }] }));
    await pass();
    assert.equal(fast.fullReads(), reads + 1, "a DNS name's elements expire: the full pass keeps them");
    mustWrite(store, (tx) => putFloor(tx, null, { rules: [{ destinations: [{ cidr: "10.0.0.0/8" }] }] }));
    await pass();
    assert.equal(fast.fullReads(), reads + 2, "a floor");
    mustWrite(store, (tx) => replaceCluster(tx, { name: "prod", sourceRanges: ["10.244.0.0/16", "10.246.0.0/16"], egressIps: ["203.0.113.10", "203.0.113.11"] }));
    mustWrite(store, (tx) => createMapping(tx, "prod", { name: "batch", sourceCidr: "10.246.1.0/24", egressIp: "203.0.113.10" }));
    await pass();
    assert.equal(fast.fullReads(), reads + 3, "a source range changed too");
  });

  it("after a full pass that sent nothing, takes each mapping's old version from what that pass realized (a rename)", async () => {
    const { store, fast, pass } = setup();
    mustWrite(store, (tx) => createMapping(tx, "prod", { name: "a", sourceCidr: "10.244.1.0/24", egressIp: "203.0.113.10" }));
    await pass();
    // One pass: the rename moves no element, the new source range (no source binding) none either: nothing is sent.
    mustWrite(store, (tx) => replaceMappings(tx, "prod", [{ name: "c", sourceCidr: "10.244.1.0/24", egressIp: "203.0.113.10" }]));
    mustWrite(store, (tx) => replaceCluster(tx, { name: "prod", sourceRanges: ["10.244.0.0/16", "10.246.0.0/16"], egressIps: ["203.0.113.10", "203.0.113.11"] }));
    assert.equal((await pass()).kind, "none");
    // Through the shortcut: "a" must not be taken for the old version of a new "a", nor "c" be unknown.
    mustWrite(store, (tx) => createMapping(tx, "prod", { name: "a", sourceCidr: "10.244.2.0/24", egressIp: "203.0.113.11" }));
    await pass();
    assert.ok(kernelSets(fast.system)["snat_v4"]?.some((e) => e.includes("10.244.1.0")), "c's source still mapped");
    mustWrite(store, (tx) => deleteMapping(tx, "prod", "c"));
    await pass();
    assert.ok(!kernelSets(fast.system)["snat_v4"]?.some((e) => e.includes("10.244.1.0")), "c's source unmapped once c is gone");
  });

  it("isolates a refused mapping the way the full pass does", async () => {
    const { store, fast, oracle, pass } = setup();
    mustWrite(store, (tx) => createMapping(tx, "prod", { name: "web", sourceCidr: "10.244.1.0/24", egressIp: "203.0.113.10" }));
    await pass();
    for (const system of [fast.system, oracle.system]) system.refuseElement = (set, key) => set === "snat_v4" && key === "10.245.9.0/24";
    mustWrite(store, (tx) => createMapping(tx, "dev", { name: "bad", sourceCidr: "10.245.9.0/24", egressIp: "203.0.113.12" }));
    mustWrite(store, (tx) => createMapping(tx, "prod", { name: "good", sourceCidr: "10.244.9.0/24", egressIp: "203.0.113.10" }));
    const report = await pass();
    assert.deepEqual(report.isolated?.map((i) => i.cluster), ["dev"]);
    assert.ok(kernelSets(fast.system)["snat_v4"]?.some((e) => e.includes("10.244.9.0")), "prod's change is live");
  });

  it("keeps what it realized when the kernel refused the batch over netlink (it changed nothing), instead of replacing the table", async () => {
    const store = openStore();
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    mustWrite(store, (tx) => createCluster(tx, { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] }));
    const commits: NftMessage[][] = [];
    let refuse = 1;
    const netfilter: NetfilterTransactions = {
      commit(messages) {
        commits.push([...messages]);
        if (refuse-- > 0) throw new NetlinkRefusal(16, 0, messages[0]?.label ?? "");
      },
      close() {},
    };
    const fast = gateway(store, { shortcut: true, netfilter });
    await fast.reconciler.reconcile();
    fast.system.calls = [];
    const added: Mapping = mustWrite(store, (tx) => createMapping(tx, "prod", { name: "web", sourceCidr: "10.244.1.0/24", egressIp: "203.0.113.10" })).result;
    const report = await fast.reconciler.reconcile();
    assert.equal(report.kind, "incremental", "the full pass found the realized state intact and sent the change again");
    assert.equal(commits.length, 2);
    assert.deepEqual(commits[1]?.map((m) => m.label), commits[0]?.map((m) => m.label));
    assert.equal(fast.system.callsOf("nft").filter((c) => c.batch && !c.args.includes("-c")).length, 0, `no table replace for ${added.name}`);
  });
});
