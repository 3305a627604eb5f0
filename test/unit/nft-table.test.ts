import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import type { Mapping } from "../../appliance/model.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import { NftTable } from "../../appliance/nft/nft-table.js";
import type { RulesetOptions } from "../../appliance/nft/ruleset.js";
import { cloneState, stateChanges } from "../../appliance/nft/state.js";
import { NetlinkRefusal, type NetfilterTransactions, type NftMessage } from "../../appliance/system/netlink.js";
import { FakeSystem } from "../helpers/fake-system.js";

const OPTIONS: RulesetOptions = {
  table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop", sourceBinding: "next-hop", failClosedMark: 0x10000000,
  peerGuard: { syncInterface: "sync", localAddress: "192.168.255.1", peerAddress: "192.168.255.2", conntrackdPort: 3780, replicationPort: 8443 },
};
const mapping = (name: string, sourceCidr: string, egressIp: string): Mapping =>
  ({ cluster: "prod", name, sourceCidr, egressIp, destinations: [], excludedDestinations: [], labels: {} });
const GUARDS = { claimed: ["10.244.0.0/16"], bound: [{ mac: "02:00:00:00:00:11", prefix: "10.244.1.0/24" }] };

describe("NftTable: our table in states", () => {
  let system: FakeSystem;
  let table: NftTable;
  const state = () => table.desired([mapping("a", "10.244.1.0/26", "203.0.113.10")], ["203.0.113.10"], GUARDS);

  beforeEach(() => {
    system = new FakeSystem();
    table = new NftTable(new NftClient(system), OPTIONS);
  });

  it("check is a dry run of the full batch; replace applies it and confirms it by reading back", async () => {
    await table.check(state());
    assert.equal(system.tableExists, false, "the check changed nothing");
    assert.deepEqual(await table.replace(state()), { unconfirmed: [] });
    assert.deepEqual(system.callsOf("nft").map((c) => c.args.slice(0, 2).join(" ")), ["-c -j", "-j -f", "-j list"]);
    assert.deepEqual(await table.differences(state()), []);
  });

  it("replace reports what the kernel does not hold after the apply", async () => {
    const run = system.run.bind(system);
    system.run = async (command, args, options) => {
      const result = await run(command, args, options);
      if (args.includes("-f")) system.sets.get("snat_v4")?.elem.clear();
      return result;
    };
    assert.deepEqual(await table.replace(state()), { unconfirmed: ["set snat_v4: 1 missing, 0 different, 0 unexpected"] });
  });

  it("update sends only the changes and returns what nft's echo did not confirm", async () => {
    const before = state();
    await table.replace(before);
    const after = table.desired([mapping("a", "10.244.1.0/26", "203.0.113.10"), mapping("b", "10.244.2.0/24", "203.0.113.10")], ["203.0.113.10"], GUARDS);
    system.calls = [];
    assert.deepEqual(await table.update(stateChanges(before, after), after), { unconfirmed: [] });
    const calls = system.callsOf("nft");
    assert.equal(calls.length, 1, "no check and no listing: the echo is the confirmation");
    assert.ok(calls[0]?.args.includes("-e"));
    assert.deepEqual(calls[0]?.batch?.nftables.slice(1).map((c) => Object.keys(c)[0]), ["add"], "one element command");
    assert.deepEqual(await table.differences(after), []);

    const run = system.run.bind(system);
    system.run = async (command, args, options) => ({ ...(await run(command, args, options)), stdout: "" });
    const third = table.desired([mapping("a", "10.244.1.0/26", "203.0.113.10")], ["203.0.113.10"], GUARDS);
    assert.deepEqual(await table.update(stateChanges(after, third), third), { unconfirmed: ["delete snat_v4 10.244.2.0/24"] }, "an empty echo confirms nothing");
  });

  it("differences name a missing table, and a rule edited in place under its comment", async () => {
    assert.deepEqual(await table.differences(state()), [{ what: "table", detail: "missing" }]);
    await table.replace(state());
    system.replaceRuleFromOutside("egw:drop-untranslatable", [{ accept: null }]);
    const differences = await table.differences(state());
    assert.deepEqual(differences.map((d) => d.what), ["rule egw:drop-untranslatable in chain forward"]);
    assert.match(differences[0]?.detail ?? "", /^\[\{"accept":null\}\], expected \[.*"drop":null\}\]$/);
  });

  it("chainDifferences looks at the base chains only: a missing table, a changed hook", async () => {
    assert.deepEqual(await table.chainDifferences(), [{ what: "table", detail: "missing" }]);
    await table.replace(state());
    assert.deepEqual(await table.chainDifferences(), []);
    const input = system.chains.find((c) => c.name === "input");
    if (input) input.prio = 10;
    assert.deepEqual((await table.chainDifferences()).map((d) => d.what), ["chains"]);
  });

  describe("with a netlink socket", () => {
    class FakeNetfilter implements NetfilterTransactions {
      batches: NftMessage[][] = [];
      refuse = false;
      commit(messages: readonly NftMessage[]): void {
        if (this.refuse) throw new NetlinkRefusal(2, 0, messages[0]?.label ?? "");
        this.batches.push([...messages]);
      }
      close(): void {}
    }
    let netfilter: FakeNetfilter;
    const after = () => table.desired([mapping("a", "10.244.1.0/26", "203.0.113.10"), mapping("b", "10.244.2.0/24", "203.0.113.10")], ["203.0.113.10"], GUARDS);

    beforeEach(async () => {
      netfilter = new FakeNetfilter();
      table = new NftTable(new NftClient(system), OPTIONS, netfilter);
      await table.replace(state());
      system.calls = [];
    });

    it("update commits the changes as one batch and runs no nft: the kernel's acknowledgement is the confirmation", async () => {
      assert.deepEqual(await table.update(stateChanges(state(), after()), after()), { unconfirmed: [] });
      assert.equal(system.callsOf("nft").length, 0);
      assert.deepEqual(netfilter.batches.map((b) => b.map((m) => m.label)), [["add 10.244.2.0/24 to snat_v4"]]);
    });

    it("a refused batch is an error, not a confirmation", async () => {
      netfilter.refuse = true;
      await assert.rejects(table.update(stateChanges(state(), after()), after()), /refused the nf_tables batch at message 1 \(add 10\.244\.2\.0\/24 to snat_v4\): ENOENT/);
    });

    it("a change with anything netlink does not encode goes through nft, all of it", async () => {
      const odd = cloneState(after());
      odd.sets.policy_verdict_v4.set("10.244.0.0/16", JSON.stringify({ queue: null }));
      await table.update(stateChanges(state(), odd), odd).catch(() => undefined);
      assert.equal(netfilter.batches.length, 0, "nothing went over netlink");
      const batch = system.callsOf("nft")[0]?.batch?.nftables ?? [];
      const sets = batch.map((c) => ((c["add"] as { element?: { name: string } } | undefined)?.element?.name)).filter(Boolean);
      assert.deepEqual(sets.sort(), ["policy_verdict_v4", "snat_v4"], "both changes in the one nft batch");
    });
  });
});
