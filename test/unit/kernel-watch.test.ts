import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { FailClosedRules } from "../../appliance/kernel/fail-closed.js";
import { NeighbourManager } from "../../appliance/kernel/neighbours.js";
import { RouteManager } from "../../appliance/kernel/routes.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import type { DesiredState } from "../../appliance/reconcile/desired-state.js";
import { KernelWatch } from "../../appliance/reconcile/kernel-watch.js";
import { ReconcileLoop } from "../../appliance/reconcile/loop.js";
import { Reconciler } from "../../appliance/reconcile/reconciler.js";
import { elementKeyText, FakeSystem } from "../helpers/fake-system.js";
import { until } from "../helpers/until.js";

const quiet = pino({ enabled: false });
/** The drift timer never fires in these tests: whatever is repaired was noticed by the monitors. */
const LOOP_OPTIONS = { driftCheckIntervalMs: 3_600_000, retryInitialMs: 10, retryMaxMs: 40, resolveRetryMs: 10 };

describe("KernelWatch: monitors trigger checks and repairs at once", () => {
  let system: FakeSystem;
  let desired: DesiredState;
  let reconciler: Reconciler;
  let loop: ReconcileLoop;
  let watch: KernelWatch;
  let passes: number;

  beforeEach(() => {
    system = new FakeSystem();
    system.lan.set("172.31.0.11", "02:00:00:00:00:11");
    desired = {
      revision: 1,
      mappings: [{ cluster: "prod", name: "a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: {} }],
      routes: [{ cluster: "prod", prefix: "10.244.0.0/16", via: "172.31.0.11" }],
      egressIps: ["203.0.113.10"],
      sourceRanges: [{ cluster: "prod", cidr: "10.244.0.0/16" }],
    };
    reconciler = new Reconciler({
      readDesired: () => structuredClone(desired),
      readRevisions: () => ({ store: desired.revision, dataplane: desired.revision, egressIps: desired.egressIps }),
      nft: new NftClient(system),
      routes: new RouteManager(system, 211, "inside"),
      neighbours: new NeighbourManager(system, "inside"),
      failClosed: new FailClosedRules(system, { insideInterface: "inside", mark: 0x10000000, priority: 900 }),
      ruleset: { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop", sourceBinding: "next-hop", failClosedMark: 0x10000000 },
      log: quiet,
    });
    loop = new ReconcileLoop(reconciler, LOOP_OPTIONS, quiet);
    passes = 0;
    loop.onReport = (report) => void (report.kind !== "none" && passes++);
    watch = new KernelWatch({ streams: system, loop, reconciler, table: "egress_gateway", neighbourInterface: "inside", log: quiet });
  });

  afterEach(async () => {
    await watch.stop();
    await loop.stop();
  });

  const started = async () => {
    loop.start();
    watch.start();
    await loop.waitForRevision(1, 2_000);
    await until(() => loop.lastReport?.ok === true && passes === 1, "the first pass");
  };
  const bound = () => [...(system.sets.get("bound_v4")?.elem.values() ?? [])].map(elementKeyText);

  it("opens nft monitor for deletions and ip monitor for the inside link's neighbours", async () => {
    await started();
    assert.deepEqual(system.streams.map((s) => [s.spec.command, ...s.spec.args]), [
      ["nft", "-j", "monitor", "rules"],
      ["ip", "monitor", "neigh", "dev", "inside"],
    ]);
    await watch.stop();
    assert.equal(system.streams.length, 0, "stop closes them");
  });

  it("a table deleted from outside is repaired without waiting for the drift timer", async () => {
    await started();
    system.deleteTableFromOutside();
    await until(() => system.tableExists && system.rules.some((r) => r.comment === "egw:mark-from-inside"), "the table is back");
    assert.equal(passes, 2);
  });

  it("its own passes' deletions do not make it repair itself in a loop", async () => {
    await started();
    // A forced full replace deletes our table first, which nft monitor reports like anybody's deletion.
    await reconciler.detectDrift();
    system.rules.pop();
    await reconciler.detectDrift();
    loop.trigger();
    await until(() => passes === 2, "the repair pass");
    await loop.settled();
    assert.ok(system.callsOf("nft", "chains").length >= 1, "the pass's own deletions led to one cheap check");
    assert.equal(passes, 2, "no further passes");
  });

  it("a deleted rule (the table still there) is found by the full check and repaired", async () => {
    await started();
    const rule = system.rules.find((r) => r.comment === "egw:spoof-guard-v4");
    system.rules = system.rules.filter((r) => r !== rule);
    system.emit("nft", JSON.stringify({ delete: { rule: { family: "inet", table: "egress_gateway", chain: "forward", handle: 7 } } }));
    await until(() => system.rules.some((r) => r.comment === "egw:spoof-guard-v4"), "the rule is back");
  });

  it("deletions in other tables, and element deletions in ours, are ignored", async () => {
    await started();
    system.calls = [];
    system.emit("nft", JSON.stringify({ delete: { table: { family: "inet", name: "firewalld" } } }));
    system.emit("nft", JSON.stringify({ delete: { rule: { family: "ip", table: "egress_gateway", chain: "x" } } }));
    system.emit("nft", JSON.stringify({ delete: { element: { family: "inet", table: "egress_gateway", name: "snat_v4", elem: { set: [] } } } }));
    system.emit("nft", "not json");
    await loop.settled();
    assert.deepEqual(system.calls, []);
  });

  it("a node replaced with a new MAC gets its binding moved, without a restart or the drift timer", async () => {
    await started();
    assert.deepEqual(bound(), ["02:00:00:00:00:11 . 10.244.0.0/16"]);
    system.moveHost("172.31.0.11", "02:00:00:00:00:99");
    await until(() => bound()[0] === "02:00:00:00:00:99 . 10.244.0.0/16", "the binding follows the new MAC");
  });

  it("an unresolved next hop is re-read soon until it resolves", async () => {
    system.lan.delete("172.31.0.11");
    loop.start();
    await until(() => loop.lastReport?.unresolvedNextHops?.length === 1, "the next hop is reported unresolved");
    assert.deepEqual(bound(), []);
    // The host appears but no event is seen (the monitor is not running): the short retry finds it.
    system.lan.set("172.31.0.11", "02:00:00:00:00:11");
    const entry = system.neighbours.get("172.31.0.11");
    assert.ok(entry);
    Object.assign(entry, { lladdr: "02:00:00:00:00:11", state: "REACHABLE" });
    await until(() => bound().length === 1, "bound after the retry");
    assert.deepEqual(loop.lastReport?.unresolvedNextHops, []);
  });

  it("a monitor restart (events may have been missed) re-reads the neighbours and checks the chains", async () => {
    await started();
    const entry = system.neighbours.get("172.31.0.11");
    assert.ok(entry);
    entry.lladdr = "02:00:00:00:00:77";
    system.restartStreams("ip");
    await until(() => bound()[0] === "02:00:00:00:00:77 . 10.244.0.0/16", "re-read after the restart");
    system.calls = [];
    system.restartStreams("nft");
    await until(() => system.callsOf("nft", "chains").length === 1, "the cheap chain check");
    assert.equal(system.callsOf("nft", "-f").length, 0, "nothing to repair");
  });
});
