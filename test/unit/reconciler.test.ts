import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { EgressAddressManager } from "../../appliance/kernel/addresses.js";
import { FailClosedRules } from "../../appliance/kernel/fail-closed.js";
import { NeighbourManager } from "../../appliance/kernel/neighbours.js";
import { RouteManager } from "../../appliance/kernel/routes.js";
import type { Mapping } from "../../appliance/model.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import type { DesiredState } from "../../appliance/reconcile/desired-state.js";
import { Reconciler } from "../../appliance/reconcile/reconciler.js";
import { FakeSystem } from "../helpers/fake-system.js";

const mapping = (name: string, sourceCidr: string, egressIp: string, extra: Partial<Mapping> = {}): Mapping => ({
  cluster: "prod", name, sourceCidr, egressIp, destinations: [], excludedDestinations: [], labels: {}, ...extra,
});

describe("Reconciler against a fake system", () => {
  let system: FakeSystem;
  let desired: DesiredState;
  let ledger: string[];
  let reconciler: Reconciler;

  beforeEach(() => {
    system = new FakeSystem();
    system.lan.set("172.31.0.11", "02:00:00:00:00:11");
    ledger = [];
    desired = {
      revision: 3,
      mappings: [mapping("a", "10.244.1.0/26", "203.0.113.10"), mapping("v6", "fd00:10:244:1::/64", "2001:db8::10")],
      routes: [{ cluster: "prod", prefix: "10.244.1.0/24", via: "172.31.0.11" }],
      egressIps: ["203.0.113.10", "2001:db8::10"],
      sourceRanges: [{ cluster: "prod", cidr: "10.244.0.0/16" }, { cluster: "prod", cidr: "fd00:10:244::/48" }],
    };
    reconciler = new Reconciler({
      readDesired: () => structuredClone(desired),
      nft: new NftClient(system),
      routes: new RouteManager(system, 211, "inside"),
      neighbours: new NeighbourManager(system, "inside"),
      failClosed: new FailClosedRules(system, { insideInterface: "inside", mark: 0x10000000, priority: 900 }),
      addresses: {
        manager: new EgressAddressManager(system, "outside"),
        ledger: {
          list: () => [...ledger],
          record: (a) => void (ledger.includes(a) || ledger.push(a)),
          forget: (a) => void ledger.splice(ledger.indexOf(a), 1),
        },
      },
      ruleset: { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop", sourceBinding: "next-hop", failClosedMark: 0x10000000 },
      log: pino({ enabled: false }),
    });
  });

  it("first pass replaces the whole table in one apply without a dry run, reads it back, installs routes and addresses", async () => {
    const report = await reconciler.reconcile();
    assert.equal(report.ok, true);
    assert.equal(report.kind, "full");
    assert.equal(reconciler.appliedRevision, 3);
    const batches = system.callsOf("nft", "-f");
    assert.equal(batches.length, 1, "one apply, no check");
    assert.ok(!batches[0]?.args.includes("-c"), "the batch is applied, not dry-run");
    const list = system.calls.findIndex((c) => c.command === "nft" && c.args.includes("list") && c.args.includes("table"));
    assert.ok(list > system.calls.indexOf(batches[0] as (typeof system.calls)[number]), "the table is read back after the apply");
    assert.deepEqual([...system.routes.keys()], ["10.244.1.0/24"]);
    assert.deepEqual(system.addresses.map((a) => a.local).sort(), ["2001:db8::10", "203.0.113.1", "203.0.113.10"]);
    assert.deepEqual(ledger.sort(), ["2001:db8::10", "203.0.113.10"]);
    assert.deepEqual([...(system.sets.get("bound_v4")?.elem.keys() ?? [])], [JSON.stringify({ concat: ["02:00:00:00:00:11", { prefix: { addr: "10.244.1.0", len: 24 } }] })],
      "the route's prefix is bound to its next hop's MAC");
    assert.equal(system.policyRules.length, 2, "the fail-closed rules for IPv4 and IPv6");
    assert.deepEqual(report.isolated, []);
    assert.deepEqual(report.unresolvedNextHops, []);
  });

  it("a second pass with nothing changed makes no system calls at all", async () => {
    await reconciler.reconcile();
    system.calls = [];
    const report = await reconciler.reconcile();
    assert.equal(report.kind, "none");
    assert.deepEqual(system.calls, []);
  });

  it("a changed mapping is applied as element changes only, not a table replace", async () => {
    await reconciler.reconcile();
    system.calls = [];
    desired = { ...desired, revision: 4, mappings: [mapping("a", "10.244.1.0/26", "203.0.113.10"), mapping("b", "10.244.1.64/26", "203.0.113.10"), desired.mappings[1] as Mapping] };
    const report = await reconciler.reconcile();
    assert.equal(report.kind, "incremental");
    const applied = system.callsOf("nft", "-f").find((c) => !c.args.includes("-c"));
    const commands = applied?.batch?.nftables.slice(1).map((c) => `${Object.keys(c)[0]} ${Object.keys(Object.values(c)[0] as object)[0]}`);
    assert.deepEqual(commands, ["add element"], "one element addition, no table, chain or rule command");
    assert.equal(system.sets.get("snat_v4")?.elem.size, 2);
    assert.equal(system.callsOf("ip").length, 0, "routes, neighbours and policy rules unchanged: no ip calls");
  });

  it("a failed apply is reported, keeps the previous rules, and the next pass replaces the table in full", async () => {
    await reconciler.reconcile();
    const before = JSON.stringify(system.listing());
    desired = { ...desired, revision: 5, mappings: [...desired.mappings, mapping("b", "10.244.1.64/26", "203.0.113.10")] };
    // The element batch and the full replace that follows it in the same pass both fail.
    system.failNextApply = "Error: Could not process rule: Device or resource busy";
    system.failApplyTimes = 2;
    await assert.rejects(reconciler.reconcile(), /Device or resource busy/);
    assert.equal(reconciler.lastReport?.ok, false);
    assert.match(reconciler.lastReport?.error ?? "", /busy/);
    assert.equal(reconciler.appliedRevision, 3, "the applied revision does not move on failure");
    assert.equal(JSON.stringify(system.listing()), before, "the kernel still holds the last good table");
    const report = await reconciler.reconcile();
    assert.equal(report.ok, true);
    assert.equal(report.kind, "full", "after a failure nothing is assumed about the kernel");
    assert.equal(reconciler.appliedRevision, 5);
  });

  it("a refused full replace leaves the kernel as it was; a check after it tells the moment's failure from the content's", async () => {
    system.failNextApply = "Error: Could not process rule: Device or resource busy";
    await assert.rejects(reconciler.reconcile(), /Device or resource busy/);
    assert.equal(system.tableExists, false, "nothing of the refused transaction is in the kernel");
    const batches = system.callsOf("nft", "-f");
    assert.deepEqual(batches.map((b) => b.args.includes("-c")), [false, true], "the apply, then a check of the same batch");
    assert.deepEqual(batches[1]?.batch, batches[0]?.batch);
    assert.deepEqual(reconciler.lastReport?.isolated ?? [], [], "a valid state refused by the moment isolates no tenant");
    const report = await reconciler.reconcile();
    assert.equal(report.ok, true);
    assert.equal(report.kind, "full");
  });

  it("an element batch that fails although its state is valid is followed by a full replace in the same pass", async () => {
    await reconciler.reconcile();
    desired = { ...desired, revision: 5, mappings: [...desired.mappings, mapping("b", "10.244.1.64/26", "203.0.113.10")] };
    system.failNextApply = "Error: Could not process rule: No such file or directory";
    const report = await reconciler.reconcile();
    assert.equal(report.ok, true);
    assert.equal(report.kind, "full");
    assert.equal(reconciler.appliedRevision, 5);
  });

  it("detects a flushed table and a deleted route, and the next pass repairs both", async () => {
    await reconciler.reconcile();
    assert.deepEqual(await reconciler.detectDrift(), [], "no drift right after an apply");
    system.rules = [];
    system.routes.clear();
    const drift = (await reconciler.detectDrift()) ?? assert.fail("no pass ran: the comparison stands");
    assert.ok(drift.some((d) => d.includes("chain postrouting")), `drift names the chain: ${drift.join("; ")}`);
    assert.ok(drift.some((d) => d.includes("routes")));
    const report = await reconciler.reconcile();
    assert.equal(report.kind, "full");
    assert.equal(system.rules.filter((r) => r.chain === "postrouting").length, 9);
    assert.deepEqual([...system.routes.keys()], ["10.244.1.0/24"]);
  });

  it("a rule edited in place under its comment is drift; the next pass replaces the table, then nothing is left to do", async () => {
    await reconciler.reconcile();
    system.replaceRuleFromOutside("egw:snat-v4", [{ snat: { family: "ip", addr: "192.0.2.99" } }]);
    const drift = (await reconciler.detectDrift()) ?? assert.fail("no pass ran: the comparison stands");
    assert.equal(drift.length, 1, drift.join("; "));
    assert.match(drift[0] ?? "", /^nft rule egw:snat-v4 in chain postrouting: .*192\.0\.2\.99.*, expected .*@snat_v4/);
    const report = await reconciler.reconcile();
    assert.equal(report.kind, "full");
    assert.deepEqual(await reconciler.detectDrift(), []);
    system.calls = [];
    assert.equal((await reconciler.reconcile()).kind, "none");
    assert.deepEqual(system.calls, []);
  });

  it("removes only routes with its own protocol number and only addresses from its ledger", async () => {
    system.routes.set("10.99.0.0/16", { dst: "10.99.0.0/16", gateway: "172.31.0.99", protocol: "static" });
    system.addresses.push({ ifname: "outside", local: "203.0.113.77", prefixlen: 32 });
    await reconciler.reconcile();
    desired = { ...desired, revision: 6, mappings: [], routes: [], egressIps: [] };
    await reconciler.reconcile();
    assert.deepEqual([...system.routes.keys()], ["10.99.0.0/16"], "the operator's route survives");
    assert.deepEqual(system.addresses.map((a) => a.local).sort(), ["203.0.113.1", "203.0.113.77"], "foreign addresses survive");
    assert.deepEqual(ledger, []);
  });

  it("a readback that differs from what was meant fails the pass", async () => {
    const realApply = system.run.bind(system);
    system.run = async (command, args, options) => {
      const result = await realApply(command, args, options);
      if (command === "nft" && args.includes("-f") && !args.includes("-c")) system.sets.get("snat_v4")?.elem.clear();
      return result;
    };
    await assert.rejects(reconciler.reconcile(), /readback differs.*snat_v4/);
    assert.equal(reconciler.appliedRevision, 0);
  });
});
