import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { NeighbourManager } from "../../appliance/kernel/neighbours.js";
import { RouteManager } from "../../appliance/kernel/routes.js";
import type { Mapping } from "../../appliance/model.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import type { DesiredState } from "../../appliance/reconcile/desired-state.js";
import { Reconciler } from "../../appliance/reconcile/reconciler.js";
import { elementKeyText, FakeSystem } from "../helpers/fake-system.js";

const mapping = (cluster: string, name: string, sourceCidr: string, egressIp: string, extra: Partial<Mapping> = {}): Mapping => ({
  cluster, name, sourceCidr, egressIp, destinations: [], excludedDestinations: [], labels: {}, ...extra,
});

/** The overlap the real kernel refuses ("File exists") once 10.0.0.0/8 is in the same mapping's destinations. */
const POISON = { destinations: ["10.0.0.0/8", "10.1.0.0/16"] };
const poisoned = (set: string, key: string) => set === "snat_dst_v4" && key.endsWith(" . 10.1.0.0/16");

/** The SNAT elements the fake kernel holds, as "source → egress" or "source . destination → egress". */
function snat(system: FakeSystem): string[] {
  return ["snat_v4", "snat_dst_v4"].flatMap((name) => [...(system.sets.get(name)?.elem.values() ?? [])]
    .map((e) => `${elementKeyText(e)} → ${String((e as unknown[])[1])}`)).sort();
}

describe("Reconciler: one tenant's refused change never blocks the others", () => {
  let system: FakeSystem;
  let desired: DesiredState;
  let reconciler: Reconciler;
  let logs: { level: number; cluster?: string; msg: string }[];

  const set = (changes: Partial<DesiredState>) => {
    desired = { ...desired, ...changes, revision: desired.revision + 1 };
  };
  const checks = () => system.callsOf("nft", "-c");

  beforeEach(() => {
    system = new FakeSystem();
    logs = [];
    const sink = new Writable({ write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString()) as (typeof logs)[number]);
      done();
    } });
    desired = {
      revision: 1,
      mappings: [
        mapping("prod", "web", "10.244.1.0/26", "203.0.113.10"),
        mapping("dev", "app", "10.245.1.0/26", "203.0.113.20"),
      ],
      routes: [],
      egressIps: ["203.0.113.10", "203.0.113.20"],
      sourceRanges: [{ cluster: "dev", cidr: "10.245.0.0/16" }, { cluster: "prod", cidr: "10.244.0.0/16" }],
    };
    reconciler = new Reconciler({
      readDesired: () => structuredClone(desired),
      nft: new NftClient(system),
      routes: new RouteManager(system, 211, "inside"),
      neighbours: new NeighbourManager(system, "inside"),
      ruleset: { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop", sourceBinding: "next-hop" },
      log: pino({ level: "error" }, sink),
    });
  });

  it("holds back the refused cluster, applies everyone else's change in the same pass, and names the cluster", async () => {
    await reconciler.reconcile();
    system.refuseElement = poisoned;
    set({ mappings: [
      mapping("prod", "web", "10.244.1.0/26", "203.0.113.10"),
      mapping("prod", "evil", "10.244.2.0/26", "203.0.113.10", POISON),
      mapping("dev", "app", "10.245.1.0/26", "203.0.113.20"),
      mapping("dev", "new", "10.245.2.0/26", "203.0.113.20"),
    ] });
    const report = await reconciler.reconcile();
    assert.equal(report.ok, true, "the pass counts as applied");
    assert.equal(reconciler.appliedRevision, 2);
    assert.equal(report.isolated?.length, 1);
    assert.equal(report.isolated?.[0]?.cluster, "prod");
    assert.match(report.isolated?.[0]?.error ?? "", /File exists/);
    assert.deepEqual(snat(system), ["10.244.1.0/26 → 203.0.113.10", "10.245.1.0/26 → 203.0.113.20", "10.245.2.0/26 → 203.0.113.20"],
      "dev's new mapping is live; prod keeps its last good state");
    const errors = logs.filter((l) => l.level === 50);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.cluster, "prod", "the isolation is logged at error level with the cluster");
  });

  it("later writes and revocations of other tenants keep applying, and the refused change is not re-checked", async () => {
    await reconciler.reconcile();
    system.refuseElement = poisoned;
    const evil = mapping("prod", "evil", "10.244.2.0/26", "203.0.113.10", POISON);
    set({ mappings: [mapping("prod", "web", "10.244.1.0/26", "203.0.113.10"), evil, mapping("dev", "app", "10.245.1.0/26", "203.0.113.20")] });
    await reconciler.reconcile();
    system.calls = [];
    // dev's mapping is revoked: the deletion reaches the kernel.
    set({ mappings: [mapping("prod", "web", "10.244.1.0/26", "203.0.113.10"), evil] });
    const report = await reconciler.reconcile();
    assert.equal(report.ok, true);
    assert.equal(report.kind, "incremental");
    assert.deepEqual(snat(system), ["10.244.1.0/26 → 203.0.113.10"]);
    assert.deepEqual(report.isolated?.map((i) => i.cluster), ["prod"], "still held back, still reported");
    assert.equal(checks().length, 0, "prod's unchanged refusal was not checked again");
    assert.ok(!JSON.stringify(system.calls).includes("10.1.0.0"), "nothing of the poisoned mapping was sent");
  });

  it("a held-back cluster is retried once its desired state changes, and released when the kernel accepts it", async () => {
    await reconciler.reconcile();
    system.refuseElement = poisoned;
    set({ mappings: [...desired.mappings, mapping("prod", "evil", "10.244.2.0/26", "203.0.113.10", POISON)] });
    assert.deepEqual((await reconciler.reconcile()).isolated?.map((i) => i.cluster), ["prod"]);
    set({ mappings: desired.mappings.map((m) => (m.name === "evil" ? { ...m, destinations: ["10.0.0.0/8"] } : m)) });
    const report = await reconciler.reconcile();
    assert.deepEqual(report.isolated, []);
    assert.ok(snat(system).includes("10.244.2.0/26 . 10.0.0.0/8 → 203.0.113.10"), snat(system).join(", "));
  });

  it("a held-back cluster's removals still go through: a revoked or changed mapping leaves the kernel (fail closed)", async () => {
    await reconciler.reconcile();
    assert.ok(snat(system).includes("10.244.1.0/26 → 203.0.113.10"));
    system.refuseElement = poisoned;
    // prod deletes web (say, to hand 203.0.113.10 back) in the same change that adds a refused mapping.
    set({ mappings: [mapping("prod", "evil", "10.244.2.0/26", "203.0.113.10", POISON), mapping("dev", "app", "10.245.1.0/26", "203.0.113.20")] });
    const report = await reconciler.reconcile();
    assert.deepEqual(report.isolated?.map((i) => i.cluster), ["prod"]);
    assert.deepEqual(snat(system), ["10.245.1.0/26 → 203.0.113.20"], "web is gone although prod's change was held back");
  });

  it("a route the kernel refuses holds back that route only: the others apply, the pass completes, the cluster is named", async () => {
    await reconciler.reconcile();
    system.refuseNextHop = (via) => via === "172.31.0.255";
    set({ routes: [
      { cluster: "prod", prefix: "10.244.0.0/16", via: "172.31.0.255" },
      { cluster: "dev", prefix: "10.245.0.0/16", via: "172.31.0.12" },
    ] });
    const report = await reconciler.reconcile();
    assert.equal(report.ok, true, "the pass counts as applied");
    assert.equal(reconciler.appliedRevision, desired.revision);
    assert.deepEqual(report.isolated?.map((i) => i.cluster), ["prod"]);
    assert.match(report.isolated?.[0]?.error ?? "", /route 10\.244\.0\.0\/16 via 172\.31\.0\.255: .*invalid gateway/);
    assert.deepEqual([...system.routes.keys()], ["10.245.0.0/16"], "dev's route is in the kernel");
    // dev changes its route: applied, and prod's refused route is not sent again.
    system.calls = [];
    set({ routes: [
      { cluster: "prod", prefix: "10.244.0.0/16", via: "172.31.0.255" },
      { cluster: "dev", prefix: "10.245.0.0/16", via: "172.31.0.13" },
    ] });
    assert.equal((await reconciler.reconcile()).ok, true);
    assert.equal(system.routes.get("10.245.0.0/16")?.gateway, "172.31.0.13");
    assert.deepEqual(system.batchLines().filter((line) => line.includes("172.31.0.255")), [], "the refused route was not sent again");
    // prod fixes its route: released.
    set({ routes: [
      { cluster: "prod", prefix: "10.244.0.0/16", via: "172.31.0.11" },
      { cluster: "dev", prefix: "10.245.0.0/16", via: "172.31.0.13" },
    ] });
    const fixed = await reconciler.reconcile();
    assert.deepEqual(fixed.isolated, []);
    assert.equal(system.routes.get("10.244.0.0/16")?.gateway, "172.31.0.11");
  });

  it("a cluster whose very first state is refused gets nothing, the others everything", async () => {
    system.refuseElement = poisoned;
    set({ mappings: [...desired.mappings, mapping("evil", "x", "10.99.0.0/24", "203.0.113.10", POISON)] });
    const report = await reconciler.reconcile();
    assert.equal(report.ok, true);
    assert.equal(report.kind, "full");
    assert.deepEqual(report.isolated?.map((i) => i.cluster), ["evil"]);
    assert.deepEqual(snat(system), ["10.244.1.0/26 → 203.0.113.10", "10.245.1.0/26 → 203.0.113.20"]);
  });

  it("finds the refused clusters among many changed ones by halves, and every other change goes live", async () => {
    await reconciler.reconcile();
    system.refuseElement = poisoned;
    const clusters = ["a", "b", "c", "d", "e", "f", "g", "h"];
    set({ mappings: [...desired.mappings, ...clusters.map((c, i) => mapping(c, "m", `10.${100 + i}.0.0/24`, "203.0.113.10", c === "f" ? POISON : {}))] });
    system.calls = [];
    const report = await reconciler.reconcile();
    assert.deepEqual(report.isolated?.map((i) => i.cluster), ["f"]);
    for (const [i, c] of clusters.entries()) {
      if (c !== "f") assert.ok(snat(system).includes(`10.${100 + i}.0.0/24 → 203.0.113.10`), `${c} applied`);
    }
    assert.ok(checks().length < clusters.length + 2, `fewer checks than one per cluster (${checks().length})`);
  });

  it("a refusal that is nobody's input (even the last good state is refused) fails the pass", async () => {
    await reconciler.reconcile();
    system.refuseElement = (name) => name === "eip_out_v4";
    set({ mappings: [...desired.mappings, mapping("dev", "more", "10.245.3.0/26", "203.0.113.30")], egressIps: [...desired.egressIps, "203.0.113.30"] });
    await assert.rejects(reconciler.reconcile(), /File exists/);
    assert.deepEqual(reconciler.lastReport?.isolated, [], "no tenant is blamed");
    assert.equal(reconciler.lastReport?.ok, false);
    assert.equal(reconciler.appliedRevision, 1);
  });

  it("a refused binding is isolated like a refused mapping (a tenant's routes are its contribution too)", async () => {
    system.lan.set("172.31.0.11", "02:00:00:00:00:11");
    system.lan.set("172.31.0.12", "02:00:00:00:00:12");
    await reconciler.reconcile();
    system.refuseElement = (name, key) => name === "bound_v4" && key.startsWith("02:00:00:00:00:12");
    set({ routes: [{ cluster: "prod", prefix: "10.244.0.0/16", via: "172.31.0.11" }, { cluster: "dev", prefix: "10.245.0.0/16", via: "172.31.0.12" }] });
    const report = await reconciler.reconcile();
    assert.deepEqual(report.isolated?.map((i) => i.cluster), ["dev"]);
    assert.deepEqual([...(system.sets.get("bound_v4")?.elem.values() ?? [])].map(elementKeyText), ["02:00:00:00:00:11 . 10.244.0.0/16"]);
  });
});
