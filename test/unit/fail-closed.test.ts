import { CommandError } from "../../appliance/system/runner.js";
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { FailClosedRules } from "../../appliance/kernel/fail-closed.js";
import { RouteManager } from "../../appliance/kernel/routes.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import { Reconciler } from "../../appliance/reconcile/reconciler.js";
import { FakeSystem } from "../helpers/fake-system.js";

const OPTIONS = { insideInterface: "inside", mark: 0x10000000, priority: 900 };
const ours = (family: 4 | 6, fwmask = "0x10000000") => ({ family, priority: 900, iif: "inside", fwmark: "0", fwmask, action: "blackhole" });

describe("FailClosedRules", () => {
  let system: FakeSystem;
  let rules: FailClosedRules;

  beforeEach(() => {
    system = new FakeSystem();
    rules = new FailClosedRules(system, OPTIONS);
  });

  it("installs `pref 900 iif inside fwmark 0/0x10000000 blackhole` for IPv4 and IPv6", async () => {
    assert.equal(await rules.converge(), 2);
    assert.deepEqual(system.policyRules, [ours(4), ours(6)]);
    assert.deepEqual(system.callsOf("ip", "add").map((c) => c.args), [
      ["-4", "rule", "add", "pref", "900", "iif", "inside", "fwmark", "0/0x10000000", "blackhole"],
      ["-6", "rule", "add", "pref", "900", "iif", "inside", "fwmark", "0/0x10000000", "blackhole"],
    ]);
    assert.equal(rules.matches(await rules.list()), true);
  });

  it("is idempotent", async () => {
    await rules.converge();
    system.calls = [];
    assert.equal(await rules.converge(), 0);
    assert.equal(system.callsOf("ip", "add").length + system.callsOf("ip", "del").length, 0);
  });

  it("never touches rules it does not own: another preference, interface, action or a non-zero mark value", async () => {
    const foreign = [
      { ...ours(4), priority: 901 },
      { ...ours(4), iif: "eth9" },
      { ...ours(4), action: "unreachable" },
      { ...ours(6), fwmark: "0x1", fwmask: "0x1" },
    ];
    system.policyRules.push(...foreign.map((r) => ({ ...r })) as typeof system.policyRules);
    await rules.converge();
    for (const rule of foreign) assert.ok(system.policyRules.some((r) => JSON.stringify(r) === JSON.stringify(rule)), JSON.stringify(rule));
    assert.equal(system.callsOf("ip", "del").length, 0);
  });

  it("replaces its own rule when the mark bit was reconfigured, adding the new one first", async () => {
    system.policyRules.push(ours(4, "0x400") as (typeof system.policyRules)[number]);
    await rules.converge();
    assert.deepEqual(system.policyRules, [ours(4), ours(6)]);
    const changes = system.calls.filter((c) => c.args.includes("rule") && (c.args.includes("add") || c.args.includes("del"))).map((c) => `${c.args[0]} ${c.args[2]} ${c.args[8]}`);
    assert.deepEqual(changes, ["-4 add 0/0x10000000", "-4 del 0/0x400", "-6 add 0/0x10000000"]);
  });
});

describe("Reconciler with the fail-closed rules", () => {
  const reconcilerFor = (system: FakeSystem) => new Reconciler({
    readDesired: () => ({ revision: 1, mappings: [], routes: [], egressIps: [], sourceRanges: [] }),
    nft: new NftClient(system),
    routes: new RouteManager(system, 211, "inside"),
    failClosed: new FailClosedRules(system, OPTIONS),
    ruleset: { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop", failClosedMark: 0x10000000 },
    log: pino({ enabled: false }),
  });

  it("installs the rules first in a pass, before the table: until the table is in place, inside traffic is black-holed", async () => {
    const system = new FakeSystem();
    const report = await reconcilerFor(system).reconcile();
    assert.equal(report.ok, true);
    assert.equal(system.policyRules.length, 2);
    const applied = system.calls.findIndex((c) => c.batch && !c.args.includes("-c"));
    const ruleAdded = system.calls.findIndex((c) => c.args.includes("rule") && c.args.includes("add"));
    assert.ok(ruleAdded >= 0 && ruleAdded < applied, "the fail-closed rules come before our table");
    assert.ok(system.rules.some((r) => r.comment === "egw:mark-from-inside"));
  });

  it("keeps the rules when the table cannot be applied: the gateway fails closed", async () => {
    const system = new FakeSystem();
    const real = system.run.bind(system);
    system.run = async (command, args, options) => {
      if (command === "nft") throw new CommandError("nft", args, 1, "Error: Could not process rule: Operation not supported");
      return real(command, args, options);
    };
    await assert.rejects(reconcilerFor(system).reconcile());
    assert.equal(system.policyRules.length, 2, "inside traffic is black-holed while there is no table");
  });

  it("a deleted rule is drift, and the next pass puts it back", async () => {
    const system = new FakeSystem();
    const reconciler = reconcilerFor(system);
    await reconciler.reconcile();
    system.policyRules = system.policyRules.filter((r) => r.family !== 6);
    assert.deepEqual(await reconciler.detectDrift(), ["the fail-closed policy rules differ from what was installed"]);
    await reconciler.reconcile();
    assert.equal(system.policyRules.length, 2);
    system.calls = [];
    assert.equal((await reconciler.reconcile()).kind, "none");
    assert.deepEqual(system.calls, [], "then nothing more to do");
  });
});
