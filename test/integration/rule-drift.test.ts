import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { pino } from "pino";
import { uniqueSuffix, type Netns } from "../../lab/netns.js";
import { namespaceFactory } from "../../lab/topology.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import { NftTable } from "../../appliance/nft/nft-table.js";
import { parseTableListing } from "../../appliance/nft/readback.js";
import type { RulesetOptions } from "../../appliance/nft/ruleset.js";
import { diffStates } from "../../appliance/nft/state.js";
import type { Contributions } from "../../appliance/reconcile/contributions.js";
import { NftConverger } from "../../appliance/reconcile/nft-converger.js";
import { ExecaRunner, type CommandResult, type CommandRunner, type RunOptions } from "../../appliance/system/runner.js";
import {
  REWRITE_EGRESS_IPS, REWRITE_GUARDS, REWRITE_MAPPINGS, REWRITE_OPTIONS, REWRITES, REWRITTEN_LISTING, type RuleRewrite,
} from "../helpers/rule-rewrites.js";

const isRoot = process.getuid?.() === 0;

/** Runs the appliance's commands in the test's namespace, and counts them. */
class NamespaceRunner implements CommandRunner {
  private readonly inner = new ExecaRunner();
  calls = 0;
  constructor(private readonly namespace: string) {}
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    this.calls++;
    return this.inner.run("ip", ["netns", "exec", this.namespace, command, ...args], options);
  }
}

const CONTRIBUTIONS: Contributions = new Map([["prod", { mappings: REWRITE_MAPPINGS, policies: [], claimed: [...REWRITE_GUARDS.claimed], bound: [...REWRITE_GUARDS.bound] }]]);

/**
 * Rules are compared by what they do, against the real kernel: the full ruleset reads back without a difference
 * (nft lists several statements otherwise than they were sent), the same rules written otherwise by hand are not
 * drift, and a rule edited in place under its old comment is, and is repaired.
 */
describe("rule drift in the kernel", { skip: isRoot ? false : "needs root for a network namespace" }, () => {
  const factory = namespaceFactory(`egwr-${uniqueSuffix()}`);
  let gateway: Netns;
  let runner: NamespaceRunner;

  const nft = async (args: string[]): Promise<string> => String((await gateway.exec("nft", args)).stdout);
  const handleOf = async (chain: string, comment: string): Promise<number> => {
    const listing = JSON.parse(await nft(["-a", "-j", "list", "chain", "inet", "egress_gateway", chain])) as { nftables: { rule?: { comment?: string; handle: number } }[] };
    const rule = listing.nftables.find((i) => i.rule?.comment === comment)?.rule;
    assert.ok(rule, `rule ${comment} in chain ${chain}`);
    return rule.handle;
  };
  /** `nft replace rule … handle N …`: the rule keeps its place and its comment. */
  const rewrite = async ({ chain, comment, rule }: RuleRewrite): Promise<void> => {
    const handle = await handleOf(chain, comment);
    await nft(["replace", "rule", "inet", "egress_gateway", chain, "handle", String(handle), ...rule.split(" "), "comment", JSON.stringify(comment)]);
  };

  before(async () => {
    gateway = await factory.make("gw");
    runner = new NamespaceRunner(gateway.name);
  });

  after(async () => {
    await factory.destroy();
    const { stdout } = await execa("ip", ["netns", "list"]);
    assert.ok(!stdout.split("\n").some((line) => line.startsWith(gateway.name)), `namespace ${gateway.name} was removed`);
  });

  it("every variant of the full ruleset reads back without a difference", async () => {
    const variants: [string, RulesetOptions][] = [
      ["all guards, IPv6 peer, masquerade", REWRITE_OPTIONS],
      ["IPv4 peer, drop", { ...REWRITE_OPTIONS, unmappedTraffic: "drop", peerGuard: { ...REWRITE_OPTIONS.peerGuard!, localAddress: "192.168.255.1", peerAddress: "192.168.255.2" } }],
      ["no guard", { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop" }],
    ];
    for (const [label, options] of variants) {
      const table = new NftTable(new NftClient(runner), options);
      const state = table.desired(REWRITE_MAPPINGS, REWRITE_EGRESS_IPS, REWRITE_GUARDS);
      assert.deepEqual(await table.replace(state), { unconfirmed: [] }, label);
      assert.deepEqual(await table.differences(state), [], label);
    }
  });

  it("the same rules written otherwise, counters that counted and recorded offenders are not drift; a rule edited in place is", async () => {
    const table = new NftTable(new NftClient(runner), REWRITE_OPTIONS);
    const state = table.desired(REWRITE_MAPPINGS, REWRITE_EGRESS_IPS, REWRITE_GUARDS);
    await table.replace(state);
    for (const change of REWRITES.filter((r) => !r.drift)) {
      await rewrite(change);
      assert.deepEqual(await table.differences(state), [], `${change.comment} rewritten as ${change.rule}`);
    }
    await nft(["add", "element", "inet", "egress_gateway", "spoofed_v4", "{ 02:66:00:00:00:01 . 10.244.1.77 }"]);
    assert.deepEqual(await table.differences(state), []);

    const edit = REWRITES.find((r) => r.drift) as RuleRewrite;
    await rewrite(edit);
    const differences = await table.differences(state);
    assert.deepEqual(differences.map((d) => d.what), [`rule ${edit.comment} in chain ${edit.chain}`]);
    assert.match(differences[0]?.detail ?? "", /"accept".*, expected .*"drop"/);

    const raw = JSON.parse(await nft(["-j", "list", "table", "inet", "egress_gateway"])) as unknown;
    if (process.env["EGW_UPDATE_GOLDEN"] === "1") writeFileSync(REWRITTEN_LISTING, `${JSON.stringify(raw, null, 2)}\n`);
    // The captured fixture still describes what this nft lists.
    assert.deepEqual(diffStates(parseTableListing(JSON.parse(readFileSync(REWRITTEN_LISTING, "utf8"))), parseTableListing(raw)), []);
  });

  it("the converger finds a rule edited in place, repairs it with a full replace, and then makes no system calls", async () => {
    const converger = new NftConverger(new NftTable(new NftClient(runner), REWRITE_OPTIONS), pino({ enabled: false }));
    assert.equal(await converger.converge(CONTRIBUTIONS, REWRITE_EGRESS_IPS), "full");
    assert.deepEqual(await converger.detectDrift(), []);

    const edit = REWRITES.find((r) => r.drift) as RuleRewrite;
    await rewrite(edit);
    const drift = (await converger.detectDrift()) ?? assert.fail("no pass ran: the comparison stands");
    assert.equal(drift.length, 1, drift.join("; "));
    assert.match(drift[0] ?? "", new RegExp(`^nft rule ${edit.comment} in chain ${edit.chain}: `));

    assert.equal(await converger.converge(CONTRIBUTIONS, REWRITE_EGRESS_IPS), "full", "a forgotten table is replaced whole");
    assert.deepEqual(await converger.detectDrift(), [], "repaired");
    const listed = JSON.parse(await nft(["-j", "list", "chain", "inet", "egress_gateway", edit.chain])) as { nftables: { rule?: { comment?: string; expr: unknown[] } }[] };
    assert.deepEqual(listed.nftables.find((i) => i.rule?.comment === edit.comment)?.rule?.expr.at(-1), { drop: null }, "the guard drops again");

    const calls = runner.calls;
    assert.equal(await converger.converge(CONTRIBUTIONS, REWRITE_EGRESS_IPS), "none");
    assert.equal(runner.calls, calls, "nothing changed: no nft call");
  });
});
