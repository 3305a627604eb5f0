import assert from "node:assert/strict";
import { POLICY_SET_NAMES } from "../../appliance/policy/compile.js";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import type { Mapping } from "../../appliance/model.js";
import { batch, type Command } from "../../appliance/nft/json.js";
import { desiredNftState, renderFull, renderIncremental, sameRules, type RulesetOptions } from "../../appliance/nft/ruleset.js";
import {
  changeCount, cloneState, counterName, desiredSets, diffStates, SET_NAMES, stateChanges, type GuardInputs, type NftState,
} from "../../appliance/nft/state.js";
import type { PeerGuard } from "../../appliance/nft/guards.js";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

/** The golden file lives in the source tree (tsc does not copy JSON to dist). Set EGW_UPDATE_GOLDEN=1 to rewrite it. */
const GOLDEN = join(PACKAGE_ROOT, "test/unit/fixtures/full-ruleset.golden.json");

/** Without any guard: what the ruleset was before source binding, fail-closed marking and the peer guard. */
const PLAIN: RulesetOptions = { table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop" };
const PEER_GUARD: PeerGuard = { syncInterface: "sync", localAddress: "192.168.255.1", peerAddress: "192.168.255.2", conntrackdPort: 3780, replicationPort: 8443 };
/** Every guard on, as an HA gateway runs it. */
const OPTIONS: RulesetOptions = { ...PLAIN, sourceBinding: "next-hop", failClosedMark: 0x10000000, peerGuard: PEER_GUARD };

const mapping = (name: string, sourceCidr: string, egressIp: string, extra: Partial<Mapping> = {}): Mapping => ({
  cluster: "prod", name, sourceCidr, egressIp, destinations: [], excludedDestinations: [], labels: {}, ...extra,
});

/** The fixed small state of the golden test. */
const GOLDEN_MAPPINGS: Mapping[] = [
  mapping("web", "10.244.1.0/26", "203.0.113.10", {
    destinations: ["198.51.100.0/24", "192.0.2.10/32"],
    excludedDestinations: ["198.51.100.128/25"],
  }),
  mapping("batch", "10.244.2.0/24", "203.0.113.10"),
  mapping("v6", "fd00:10:244:1::/64", "2001:db8::10"),
];
const GOLDEN_EGRESS_IPS = ["203.0.113.10", "2001:db8::10"];
const GOLDEN_GUARDS: GuardInputs = {
  claimed: ["10.244.0.0/16", "fd00:10:244::/48"],
  bound: [
    { mac: "02:00:00:00:00:11", prefix: "10.244.1.0/24" },
    { mac: "02:00:00:00:00:11", prefix: "fd00:10:244:1::/64" },
    { mac: "02:00:00:00:00:12", prefix: "10.244.2.0/24" },
  ],
};

const goldenState = (): NftState => desiredNftState(OPTIONS, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS, GOLDEN_GUARDS);

/** "verb object" of a command, e.g. "add element". */
const kind = (command: Command): string => {
  const verb = Object.keys(command)[0] as string;
  return `${verb} ${Object.keys(command[verb] as object)[0]}`;
};
const body = (command: Command): Record<string, unknown> => {
  const inner = Object.values(command)[0] as Record<string, unknown>;
  return Object.values(inner)[0] as Record<string, unknown>;
};

describe("renderFull golden file", () => {
  it("matches test/unit/fixtures/full-ruleset.golden.json", () => {
    const actual = JSON.stringify(batch(renderFull(OPTIONS, goldenState())), null, 2);
    if (process.env["EGW_UPDATE_GOLDEN"] === "1") writeFileSync(GOLDEN, `${actual}\n`);
    assert.equal(actual, readFileSync(GOLDEN, "utf8").trimEnd());
  });
});

describe("renderFull structure", () => {
  const commands = renderFull(OPTIONS, goldenState());

  it("starts with the metainfo and add-then-delete-then-add of our table", () => {
    const full = batch(commands).nftables;
    assert.deepEqual(full[0], { metainfo: { json_schema_version: 1 } });
    assert.deepEqual(commands.slice(0, 3), [
      { add: { table: { family: "inet", name: "egress_gateway" } } },
      { delete: { table: { family: "inet", name: "egress_gateway" } } },
      { add: { table: { family: "inet", name: "egress_gateway" } } },
    ]);
  });

  it("touches only our table: every command names it, nothing flushes the ruleset", () => {
    for (const command of commands) {
      assert.ok(!("flush" in command), `no flush: ${JSON.stringify(command)}`);
      const object = body(command);
      assert.equal(object["family"], "inet");
      assert.equal(kind(command).endsWith(" table") ? object["name"] : object["table"], "egress_gateway", JSON.stringify(command));
    }
  });

  it("the table name and interfaces come from the options", () => {
    const custom = renderFull({ ...OPTIONS, table: "egw_test", insideInterface: "veth-in0", outsideInterface: "veth-out0" }, goldenState());
    const text = JSON.stringify(custom);
    assert.ok(!text.includes("egress_gateway"));
    assert.ok(!text.includes("\"inside\"") && !text.includes("\"outside\""));
    assert.ok(text.includes("\"veth-in0\"") && text.includes("\"veth-out0\""));
    for (const command of custom) {
      const object = body(command);
      assert.equal(kind(command).endsWith(" table") ? object["name"] : object["table"], "egw_test");
    }
  });

  it("objects come in dependency order: table, counters, chains (verdict maps name them), sets/maps, rules", () => {
    const order = commands.slice(3).map((c) => kind(c).split(" ")[1]);
    const rank: Record<string, number> = { counter: 0, chain: 1, set: 2, map: 2, rule: 3 };
    const ranks = order.map((o) => rank[o as string]);
    assert.ok(ranks.every((r) => r !== undefined), `only known objects: ${order.join(", ")}`);
    assert.deepEqual(ranks, [...ranks].sort(), `order: ${order.join(", ")}`);
  });

  it("declares every set with interval flags where keys are prefixes, and the dynamic offender sets", () => {
    const sets = commands.filter((c) => /^add (set|map)$/.test(kind(c))).map(body);
    assert.deepEqual(sets.map((s) => s["name"]), [...SET_NAMES, "spoofed_v4", "spoofed_v6"]);
    for (const set of sets) {
      const name = set["name"] as string;
      const prefixKeyed = /^(snat|nonat|claimed|bound|floor|cluster_floor|policy_unmatched|policy_verdict)/.test(name);
      if (name.startsWith("policy_allow")) assert.deepEqual(set["flags"], ["interval", "timeout"], `${name}: DNS-derived elements expire`);
      else if (!name.startsWith("spoofed")) assert.deepEqual(set["flags"], prefixKeyed ? ["interval"] : undefined, name);
      if (/^(eip_|floor|cluster_floor|policy_allow|policy_unmatched)/.test(name)) assert.equal(set["map"], "counter", name);
      if (name.startsWith("policy_verdict")) assert.equal(set["map"], "verdict", name);
      if (/^(nonat|claimed|bound|spoofed)/.test(name)) assert.equal(set["map"], undefined, `${name} is a set`);
    }
    const empty = sets.filter((s) => s["elem"] === undefined).map((s) => s["name"]);
    assert.deepEqual(empty, ["snat_dst_v6", "nonat_v6", ...POLICY_SET_NAMES, "spoofed_v4", "spoofed_v6"], "empty sets carry no elem member");
    for (const v of ["v4", "v6"]) {
      const spoofed = sets.find((s) => s["name"] === `spoofed_${v}`);
      assert.deepEqual(spoofed, {
        family: "inet", table: "egress_gateway", name: `spoofed_${v}`, type: ["ether_addr", v === "v4" ? "ipv4_addr" : "ipv6_addr"],
        flags: ["timeout"], timeout: 3600, size: 65536,
      }, "offenders expire after an hour and the set is bounded");
    }
  });

  it("every rule carries an egw: comment, and chains carry the rules desiredNftState promises", () => {
    const rules = commands.filter((c) => kind(c) === "add rule").map(body);
    const byChain: Record<string, string[]> = {};
    for (const rule of rules) {
      assert.match(rule["comment"] as string, /^egw:[a-z0-9-]+$/);
      (byChain[rule["chain"] as string] ??= []).push(rule["comment"] as string);
    }
    assert.deepEqual(byChain, goldenState().chains);
    const chains = commands.filter((c) => kind(c) === "add chain").map(body).map((c) => c["name"]);
    assert.deepEqual(chains.sort(), Object.keys(goldenState().chains).sort());
  });

  it("declares one counter per egress IP and direction and one per guard, sorted", () => {
    const counters = commands.filter((c) => kind(c) === "add counter").map((c) => body(c)["name"]);
    assert.deepEqual(counters, [
      "guard_conntrackd", "guard_replication", "guard_spoofed", "guard_vrrp",
      "in_v4_203_0_113_10", "in_v6_2001_db8__10", "out_v4_203_0_113_10", "out_v6_2001_db8__10",
    ]);
  });

  it("an empty state still renders every set, chain and rule", () => {
    const empty = renderFull(OPTIONS, desiredNftState(OPTIONS, [], []));
    assert.equal(empty.filter((c) => kind(c) === "add counter").length, 4, "the guard counters only");
    assert.equal(empty.filter((c) => /^add (set|map)$/.test(kind(c))).length, SET_NAMES.length + 2);
    assert.ok(empty.every((c) => body(c)["elem"] === undefined));
    assert.equal(empty.filter((c) => kind(c) === "add rule").length, commands.filter((c) => kind(c) === "add rule").length);
  });
});

describe("unmapped traffic", () => {
  for (const [unmapped, statement] of [["drop", { drop: null }], ["masquerade", { masquerade: null }]] as const) {
    it(`${unmapped}: the last postrouting rule is "egw:unmapped-${unmapped}"`, () => {
      const options = { ...OPTIONS, unmappedTraffic: unmapped };
      const rules = renderFull(options, desiredNftState(options, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS))
        .filter((c) => kind(c) === "add rule").map(body).filter((r) => r["chain"] === "postrouting");
      const last = rules.at(-1);
      assert.equal(last?.["comment"], `egw:unmapped-${unmapped}`);
      assert.deepEqual(last?.["expr"], [{ counter: null }, statement]);
      assert.equal(desiredNftState(options, [], []).chains["postrouting"]?.at(-1), `egw:unmapped-${unmapped}`);
    });
  }

  it("states rendered with different unmapped policies do not have the same rules", () => {
    const drop = desiredNftState(OPTIONS, [], []);
    const masquerade = desiredNftState({ ...OPTIONS, unmappedTraffic: "masquerade" }, [], []);
    assert.equal(sameRules(drop, masquerade), false);
    assert.equal(sameRules(drop, desiredNftState(OPTIONS, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS)), true, "mappings do not change rules");
  });
});

describe("guards", () => {
  const rulesOf = (options: RulesetOptions, chain: string) => renderFull(options, desiredNftState(options, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS, GOLDEN_GUARDS))
    .filter((c) => kind(c) === "add rule").map(body).filter((r) => r["chain"] === chain);
  const names = (options: RulesetOptions, pattern: RegExp) => renderFull(options, desiredNftState(options, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS, GOLDEN_GUARDS))
    .filter((c) => pattern.test(kind(c))).map((c) => body(c)["name"] as string);

  it("without any guard option the ruleset has no guard set, counter, rule or input chain", () => {
    const plain = renderFull(PLAIN, desiredNftState(PLAIN, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS, GOLDEN_GUARDS));
    const text = JSON.stringify(plain);
    for (const word of ["claimed_", "bound_", "spoofed_", "guard_", "\"mangle\"", "\"input\""]) assert.ok(!text.includes(word), `no ${word}`);
    assert.deepEqual(Object.keys(desiredNftState(PLAIN, [], []).chains),
      ["count_in", "postrouting", "forward", "count_out", "egress_policy", "policy_lookup", "floor_deny", "policy_deny", "policy_audit"]);
    assert.ok(SET_NAMES.filter((n) => /^(claimed|bound)/.test(n)).every((n) => desiredNftState(PLAIN, [], [], GOLDEN_GUARDS).sets[n].size === 0),
      "guard inputs are ignored while source binding is off");
  });

  it("source binding: new connections from claimed sources must come from a bound MAC, else recorded, counted and dropped", () => {
    const options: RulesetOptions = { ...PLAIN, sourceBinding: "next-hop" };
    const forward = rulesOf(options, "forward");
    assert.deepEqual(forward.map((r) => r["comment"]),
      ["egw:established", "egw:forward-only-inside", "egw:spoof-guard-v4", "egw:spoof-guard-v6", "egw:drop-untranslatable", "egw:policy"]);
    // The gate: packets of known connections, and packets not from the inside, are done before any guard.
    assert.deepEqual(forward[0]?.["expr"], [{ match: { op: "in", left: { ct: { key: "state" } }, right: ["established", "related"] } }, { accept: null }]);
    assert.deepEqual(forward[1]?.["expr"], [{ match: { op: "!=", left: { meta: { key: "iifname" } }, right: "inside" } }, { accept: null }]);
    const key = { concat: [{ payload: { protocol: "ether", field: "saddr" } }, { payload: { protocol: "ip", field: "saddr" } }] };
    assert.deepEqual(forward[2]?.["expr"], [
      { match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: "@claimed_v4" } },
      { match: { op: "in", left: { ct: { key: "state" } }, right: "new" } },
      { match: { op: "!=", left: key, right: "@bound_v4" } },
      { set: { op: "update", elem: key, set: "@spoofed_v4" } },
      { counter: "guard_spoofed" },
      { drop: null },
    ]);
    assert.match(JSON.stringify(forward[3]?.["expr"]), /"protocol":"ip6".*@claimed_v6.*@bound_v6.*@spoofed_v6/);
    assert.deepEqual(names(options, /^add counter$/).filter((n) => n.startsWith("guard_")), ["guard_spoofed"]);
    assert.deepEqual(names(options, /^add (set|map)$/).filter((n) => /^(claimed|bound|spoofed)/.test(n)),
      ["claimed_v4", "claimed_v6", "bound_v4", "bound_v6", "spoofed_v4", "spoofed_v6"]);
  });

  it("bound elements are MAC . prefix concatenations, with the MAC as a plain value", () => {
    const commands = renderFull(OPTIONS, goldenState());
    const bound = commands.filter((c) => kind(c) === "add set").map(body).find((s) => s["name"] === "bound_v4");
    assert.deepEqual(bound, {
      family: "inet", table: "egress_gateway", name: "bound_v4", type: ["ether_addr", "ipv4_addr"], flags: ["interval"],
      elem: [
        { concat: ["02:00:00:00:00:11", { prefix: { addr: "10.244.1.0", len: 24 } }] },
        { concat: ["02:00:00:00:00:12", { prefix: { addr: "10.244.2.0", len: 24 } }] },
      ],
    });
  });

  it("fail closed: every packet from the inside gets the mark bit, in the prerouting chain we already have", () => {
    const options: RulesetOptions = { ...PLAIN, failClosedMark: 0x400 };
    const chains = renderFull(options, desiredNftState(options, [], [])).filter((c) => kind(c) === "add chain").map(body);
    assert.equal(chains.filter((c) => c["hook"] === "prerouting").length, 1, "no extra base chain");
    const countIn = rulesOf(options, "count_in");
    assert.deepEqual(countIn[0], {
      family: "inet", table: "egress_gateway", chain: "count_in", comment: "egw:mark-from-inside",
      expr: [
        { match: { op: "==", left: { meta: { key: "iifname" } }, right: "inside" } },
        { mangle: { key: { meta: { key: "mark" } }, value: { "|": [{ meta: { key: "mark" } }, 0x400] } } },
        { accept: null },
      ],
    });
    assert.equal(rulesOf(PLAIN, "count_in").length, 2, "without the option: counting only");
  });

  it("peer guard: an input chain that accepts VRRP, conntrackd and replication only from the peer on the sync link", () => {
    const input = rulesOf(OPTIONS, "input");
    assert.deepEqual(input.map((r) => r["comment"]), [
      "egw:vrrp-from-peer", "egw:vrrp-guard", "egw:conntrackd-from-peer", "egw:conntrackd-guard", "egw:replication-from-peer", "egw:replication-guard",
    ]);
    const fromPeer = [
      { match: { op: "==", left: { meta: { key: "iifname" } }, right: "sync" } },
      { match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: "192.168.255.2" } },
      { match: { op: "==", left: { payload: { protocol: "ip", field: "daddr" } }, right: "192.168.255.1" } },
    ];
    const vrrp = { match: { op: "==", left: { meta: { key: "l4proto" } }, right: 112 } };
    const udp = { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 3780 } };
    const tcp = { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 8443 } };
    assert.deepEqual(input.map((r) => r["expr"]), [
      [...fromPeer, vrrp, { accept: null }],
      [vrrp, { counter: "guard_vrrp" }, { drop: null }],
      [...fromPeer, udp, { accept: null }],
      [udp, { counter: "guard_conntrackd" }, { drop: null }],
      [...fromPeer, tcp, { accept: null }],
      [tcp, { counter: "guard_replication" }, { drop: null }],
    ]);
    const chain = renderFull(OPTIONS, goldenState()).filter((c) => kind(c) === "add chain").map(body).find((c) => c["name"] === "input");
    assert.deepEqual(chain, { family: "inet", table: "egress_gateway", name: "input", type: "filter", hook: "input", prio: 0, policy: "accept" },
      "policy accept: traffic that is not ours is never filtered");
    assert.deepEqual(names(OPTIONS, /^add counter$/).filter((n) => n.startsWith("guard_")), ["guard_conntrackd", "guard_replication", "guard_spoofed", "guard_vrrp"]);
  });

  it("peer guard over IPv6 sync addresses matches ip6", () => {
    const options: RulesetOptions = { ...PLAIN, peerGuard: { ...PEER_GUARD, localAddress: "fd00:ffff::1", peerAddress: "fd00:ffff::2" } };
    const text = JSON.stringify(rulesOf(options, "input"));
    assert.ok(text.includes("\"protocol\":\"ip6\"") && !text.includes("\"protocol\":\"ip\""), text);
    assert.ok(text.includes("fd00:ffff::2"));
  });

  it("changing a guard option changes the rules (a full replace), guard inputs only change elements", () => {
    const base = desiredNftState(OPTIONS, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS, GOLDEN_GUARDS);
    assert.equal(sameRules(base, desiredNftState({ ...OPTIONS, sourceBinding: "off" }, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS)), false);
    assert.equal(sameRules(base, desiredNftState({ ...OPTIONS, peerGuard: undefined }, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS)), false);
    assert.equal(sameRules(base, desiredNftState({ ...OPTIONS, failClosedMark: undefined }, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS)), false);
    assert.equal(sameRules(base, desiredNftState(OPTIONS, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS)), true);
    const moved = desiredNftState(OPTIONS, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS, { ...GOLDEN_GUARDS, bound: [{ mac: "02:00:00:00:00:99", prefix: "10.244.1.0/24" }] });
    assert.deepEqual(renderIncremental(OPTIONS, base, moved).map(kind), ["delete element", "delete element", "add element"]);
  });
});

describe("desiredSets", () => {
  it("places each mapping in the right sets", () => {
    const { sets, counters } = desiredSets(GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS, { ...GOLDEN_GUARDS, bound: [{ mac: "02:AB:00:00:00:11", prefix: "10.244.1.0/24" }] });
    const plain = Object.fromEntries(SET_NAMES.map((n) => [n, Object.fromEntries(sets[n])]));
    assert.deepEqual(plain, {
      snat_v4: { "10.244.2.0/24": "203.0.113.10" },
      snat_v6: { "fd00:10:244:1::/64": "2001:db8::10" },
      snat_dst_v4: { "10.244.1.0/26 . 198.51.100.0/24": "203.0.113.10", "10.244.1.0/26 . 192.0.2.10/32": "203.0.113.10" },
      snat_dst_v6: {},
      nonat_v4: { "10.244.1.0/26 . 198.51.100.128/25": "" },
      nonat_v6: {},
      eip_out_v4: { "203.0.113.10": "out_v4_203_0_113_10" },
      eip_out_v6: { "2001:db8::10": "out_v6_2001_db8__10" },
      eip_in_v4: { "203.0.113.10": "in_v4_203_0_113_10" },
      eip_in_v6: { "2001:db8::10": "in_v6_2001_db8__10" },
      claimed_v4: { "10.244.0.0/16": "" },
      claimed_v6: { "fd00:10:244::/48": "" },
      bound_v4: { "02:ab:00:00:00:11 . 10.244.1.0/24": "" },
      bound_v6: {},
      ...Object.fromEntries(POLICY_SET_NAMES.map((n) => [n, {}])),
    });
    assert.deepEqual([...counters].sort(), ["in_v4_203_0_113_10", "in_v6_2001_db8__10", "out_v4_203_0_113_10", "out_v6_2001_db8__10"]);
  });

  it("an excluded destination without destinations still translates everything else", () => {
    const { sets } = desiredSets([mapping("a", "fd00::/64", "2001:db8::1", { excludedDestinations: ["2001:db8:ffff::/48"] })], []);
    assert.deepEqual([...sets.snat_v6], [["fd00::/64", "2001:db8::1"]]);
    assert.deepEqual([...sets.nonat_v6], [["fd00::/64 . 2001:db8:ffff::/48", ""]]);
    assert.equal(sets.snat_dst_v6.size, 0);
  });

  const names: [direction: "out" | "in", address: string, name: string][] = [
    ["out", "203.0.113.10", "out_v4_203_0_113_10"],
    ["in", "203.0.113.10", "in_v4_203_0_113_10"],
    ["out", "2001:db8::10", "out_v6_2001_db8__10"],
    ["in", "2001:db8:1:2:3:4:5:6", "in_v6_2001_db8_1_2_3_4_5_6"],
  ];
  for (const [direction, address, name] of names) {
    it(`counterName(${direction}, ${address}) = ${name}`, () => {
      assert.equal(counterName(direction, address), name);
      assert.match(name, /^[a-zA-Z0-9_]+$/);
    });
  }
});

describe("renderIncremental", () => {
  const touched = (commands: Command[]) => commands.map(kind);

  it("identical states yield no commands", () => {
    assert.deepEqual(renderIncremental(OPTIONS, goldenState(), goldenState()), []);
    assert.deepEqual(renderIncremental(OPTIONS, goldenState(), cloneState(goldenState())), []);
    const empty = desiredNftState(OPTIONS, [], []);
    assert.deepEqual(renderIncremental(OPTIONS, empty, desiredNftState(OPTIONS, [], [])), []);
  });

  it("changing one mapping's egress IP is one delete and one add of that key", () => {
    const eips = [...GOLDEN_EGRESS_IPS, "203.0.113.11"];
    const from = desiredNftState(OPTIONS, GOLDEN_MAPPINGS, eips);
    const to = desiredNftState(OPTIONS, GOLDEN_MAPPINGS.map((m) => (m.name === "batch" ? { ...m, egressIp: "203.0.113.11" } : m)), eips);
    assert.deepEqual(renderIncremental(OPTIONS, from, to), [
      { delete: { element: { family: "inet", table: "egress_gateway", name: "snat_v4", elem: [[{ prefix: { addr: "10.244.2.0", len: 24 } }, "203.0.113.10"]] } } },
      { add: { element: { family: "inet", table: "egress_gateway", name: "snat_v4", elem: [[{ prefix: { addr: "10.244.2.0", len: 24 } }, "203.0.113.11"]] } } },
    ]);
  });

  it("changing the egress IP of a destination-restricted mapping touches only its concatenated keys", () => {
    const eips = [...GOLDEN_EGRESS_IPS, "203.0.113.11"];
    const from = desiredNftState(OPTIONS, GOLDEN_MAPPINGS, eips);
    const to = desiredNftState(OPTIONS, GOLDEN_MAPPINGS.map((m) => (m.name === "web" ? { ...m, egressIp: "203.0.113.11" } : m)), eips);
    const commands = renderIncremental(OPTIONS, from, to);
    assert.deepEqual(touched(commands), ["delete element", "add element"]);
    const key = (cidr: string) => ({ concat: [{ prefix: { addr: "10.244.1.0", len: 26 } }, { prefix: { addr: cidr.split("/")[0], len: Number(cidr.split("/")[1]) } }] });
    assert.deepEqual(body(commands[0] as Command), { family: "inet", table: "egress_gateway", name: "snat_dst_v4", elem: [[key("198.51.100.0/24"), "203.0.113.10"], [key("192.0.2.10/32"), "203.0.113.10"]] });
    assert.deepEqual(body(commands[1] as Command)["elem"], [[key("198.51.100.0/24"), "203.0.113.11"], [key("192.0.2.10/32"), "203.0.113.11"]]);
  });

  it("emits only element and counter changes: new counters first, element deletions, additions, counter deletions last", () => {
    const from = goldenState();
    // 203.0.113.10 goes, 203.0.113.20 comes; a v6 mapping is added and an exclusion removed.
    const to = desiredNftState(OPTIONS, [
      mapping("web", "10.244.1.0/26", "203.0.113.20", { destinations: ["198.51.100.0/24", "192.0.2.10/32"] }),
      mapping("batch", "10.244.2.0/24", "203.0.113.20"),
      mapping("v6", "fd00:10:244:1::/64", "2001:db8::10"),
      mapping("v6b", "fd00:10:244:2::/64", "2001:db8::10", { destinations: ["2001:db8:100::/48"] }),
    ], ["203.0.113.20", "2001:db8::10"], GOLDEN_GUARDS);
    const commands = renderIncremental(OPTIONS, from, to);
    for (const command of commands) {
      assert.match(kind(command), /^(add|delete) (element|counter)$/, JSON.stringify(command));
      assert.equal(body(command)["table"], "egress_gateway");
    }
    assert.deepEqual(touched(commands), [
      "add counter", "add counter",
      "delete element", "delete element", "delete element", "delete element", "delete element",
      "add element", "add element", "add element", "add element", "add element",
      "delete counter", "delete counter",
    ]);
    assert.deepEqual(commands.slice(0, 2).map((c) => body(c)["name"]), ["in_v4_203_0_113_20", "out_v4_203_0_113_20"]);
    assert.deepEqual(commands.slice(-2).map((c) => body(c)["name"]), ["in_v4_203_0_113_10", "out_v4_203_0_113_10"]);
    assert.deepEqual(commands.slice(2, 7).map((c) => body(c)["name"]), ["snat_v4", "snat_dst_v4", "nonat_v4", "eip_out_v4", "eip_in_v4"]);
    assert.deepEqual(commands.slice(7, 12).map((c) => body(c)["name"]), ["snat_v4", "snat_dst_v4", "snat_dst_v6", "eip_out_v4", "eip_in_v4"]);
    assert.deepEqual(body(commands[4] as Command)["elem"], [{ concat: [{ prefix: { addr: "10.244.1.0", len: 26 } }, { prefix: { addr: "198.51.100.128", len: 25 } }] }]);
    assert.deepEqual(body(commands[5] as Command)["elem"], [["203.0.113.10", "out_v4_203_0_113_10"]]);
    assert.deepEqual(body(commands[11] as Command)["elem"], [["203.0.113.20", "in_v4_203_0_113_20"]]);
  });

  it("a counter is never deleted while an element still refers to it, nor referred to before it exists", () => {
    const from = goldenState();
    const to = desiredNftState(OPTIONS, [], ["198.51.100.1"]);
    const commands = renderIncremental(OPTIONS, from, to);
    const position = (k: string, name: string) => commands.findIndex((c) => kind(c) === k && body(c)["name"] === name);
    for (const counter of [...from.counters].filter((c) => !to.counters.has(c))) {
      const deleted = position("delete counter", counter);
      assert.ok(deleted >= 0, `${counter} is deleted`);
      const lastElementDelete = commands.map(kind).lastIndexOf("delete element");
      assert.ok(deleted > lastElementDelete, `${counter} deleted after the elements`);
    }
    for (const counter of [...to.counters].filter((c) => !from.counters.has(c))) {
      const added = position("add counter", counter);
      const firstElementAdd = commands.map(kind).indexOf("add element");
      assert.ok(added >= 0 && added < firstElementAdd, `${counter} added before the elements`);
    }
  });

  it("applying the diff to a copy of the state gives the target state", () => {
    const from = goldenState();
    const to = desiredNftState(OPTIONS, [mapping("x", "10.9.0.0/16", "203.0.113.10")], ["203.0.113.10"]);
    const commands = renderIncremental(OPTIONS, from, to);
    const sets = new Map(SET_NAMES.map((n) => [n, new Set([...from.sets[n]].map(([k, v]) => `${k}=${v}`))]));
    const json = (state: NftState, name: (typeof SET_NAMES)[number]) => new Set([...state.sets[name]].map(([k, v]) => `${k}=${v}`));
    // Count elements: deletions remove exactly what differs, additions add exactly what is new.
    for (const command of commands.filter((c) => kind(c).endsWith("element"))) {
      const name = body(command)["name"] as (typeof SET_NAMES)[number];
      const count = (body(command)["elem"] as unknown[]).length;
      const set = sets.get(name) as Set<string>;
      if (kind(command).startsWith("delete")) {
        const gone = [...set].filter((e) => !json(to, name).has(e));
        assert.equal(count, gone.length, `${name}: deletions`);
        for (const e of gone) set.delete(e);
      } else {
        const fresh = [...json(to, name)].filter((e) => !set.has(e));
        assert.equal(count, fresh.length, `${name}: additions`);
        for (const e of fresh) set.add(e);
      }
    }
    for (const name of SET_NAMES) assert.deepEqual(sets.get(name), json(to, name), name);
  });
});

describe("diffStates and cloneState", () => {
  it("a state does not differ from itself or its clone", () => {
    assert.deepEqual(diffStates(goldenState(), goldenState()), []);
    assert.deepEqual(diffStates(goldenState(), cloneState(goldenState())), []);
  });

  it("a clone is deep: changing it leaves the original alone", () => {
    const original = goldenState();
    const copy = cloneState(original);
    copy.sets.snat_v4.set("10.99.0.0/16", "203.0.113.10");
    copy.counters.add("extra");
    copy.chains["postrouting"]?.push("egw:extra");
    assert.deepEqual(diffStates(goldenState(), original), []);
  });

  it("reports missing, different and unexpected elements per set, counters and chains", () => {
    const wanted = goldenState();
    const actual = cloneState(wanted);
    actual.sets.snat_v4.delete("10.244.2.0/24");
    actual.sets.snat_v6.set("fd00:10:244:1::/64", "2001:db8::99");
    actual.sets.nonat_v4.set("10.0.0.0/8 . 10.0.0.0/8", "");
    actual.sets.nonat_v4.delete("10.244.1.0/26 . 198.51.100.128/25");
    actual.counters.delete("in_v4_203_0_113_10");
    actual.counters.add("stray");
    actual.chains["forward"] = [];
    delete actual.chains["count_in"];
    actual.chains["mine"] = ["(no comment)"];
    actual.chains["postrouting"] = [...(wanted.chains["postrouting"] ?? [])].reverse();
    const differences = diffStates(wanted, actual);
    assert.deepEqual(differences.filter((d) => d.what.startsWith("set ")), [
      { what: "set snat_v4", detail: "1 missing, 0 different, 0 unexpected" },
      { what: "set snat_v6", detail: "0 missing, 1 different, 0 unexpected" },
      { what: "set nonat_v4", detail: "1 missing, 0 different, 1 unexpected" },
    ]);
    assert.deepEqual(differences.find((d) => d.what === "counters"), { what: "counters", detail: "1 missing, 1 unexpected" });
    assert.deepEqual(differences.find((d) => d.what === "chain forward"), { what: "chain forward", detail: "rules [], expected [egw:established, egw:forward-only-inside, egw:spoof-guard-v4, egw:spoof-guard-v6, egw:drop-untranslatable, egw:policy]" });
    assert.deepEqual(differences.find((d) => d.what === "chain count_in"), { what: "chain count_in", detail: "missing" });
    assert.deepEqual(differences.find((d) => d.what === "chain mine"), { what: "chain mine", detail: "unexpected" });
    assert.ok(differences.some((d) => d.what === "chain postrouting"), "rule order matters");
    assert.equal(differences.length, 3 + 1 + 4);
  });

  it("reports a rule that does something else under its old comment, and a clone's rule forms are its own", () => {
    const wanted = goldenState();
    const actual = cloneState(wanted);
    (actual.ruleForms["input"] ?? [])[1] = "[{\"accept\":null}]";
    assert.deepEqual(diffStates(wanted, actual), [{ what: "rule egw:vrrp-guard in chain input", detail: `[{"accept":null}], expected ${wanted.ruleForms["input"]?.[1]}` }]);
    assert.deepEqual(diffStates(goldenState(), wanted), [], "the original is untouched");
    assert.equal(sameRules(wanted, actual), false, "an element batch cannot repair it");
  });

  it("stateChanges lists what renderIncremental sends, and changeCount counts it", () => {
    const from = goldenState();
    const to = desiredNftState(OPTIONS, [...GOLDEN_MAPPINGS.slice(1), mapping("new", "10.244.9.0/24", "203.0.113.11")], ["203.0.113.11", "2001:db8::10"], GOLDEN_GUARDS);
    const changes = stateChanges(from, to);
    assert.deepEqual(changes.counters, { added: ["in_v4_203_0_113_11", "out_v4_203_0_113_11"], removed: ["in_v4_203_0_113_10", "out_v4_203_0_113_10"] });
    const sent = renderIncremental(OPTIONS, from, to).reduce((n, c) => n + ((body(c)["elem"] as unknown[] | undefined)?.length ?? 1), 0);
    assert.equal(changeCount(changes), sent);
    assert.equal(changeCount(stateChanges(from, goldenState())), 0);
  });
});

const isRoot = process.getuid?.() === 0;

describe("the real nft accepts the rendered batch", { skip: isRoot ? false : "needs root for a network namespace" }, () => {
  const ns = `egwt-ruleset-${process.pid}-${randomBytes(4).toString("hex")}`;
  let dir: string;
  const inNs = (args: string[]) => execa("ip", ["netns", "exec", ns, "nft", ...args], { reject: false, stdin: "ignore" });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-ruleset-test-"));
    await execa("ip", ["netns", "add", ns]);
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await execa("ip", ["netns", "delete", ns], { reject: false });
    const { stdout } = await execa("ip", ["netns", "list"]);
    assert.ok(!stdout.split("\n").some((line) => line.split(" ")[0] === ns), `namespace ${ns} was removed`);
  });

  it("nft -c -j -f accepts the golden file", async () => {
    const result = await inNs(["-c", "-j", "-f", GOLDEN]);
    assert.equal(result.exitCode, 0, result.stderr);
    const listing = await inNs(["list", "ruleset"]);
    assert.equal(listing.exitCode, 0, listing.stderr);
    assert.equal(listing.stdout.trim(), "", "the check changed nothing in the fresh namespace");
  });

  it("nft -c -j -f accepts the masquerade variant and a custom table name", async () => {
    const options: RulesetOptions = { table: "egw_other", insideInterface: "veth-in0", outsideInterface: "veth-out0", unmappedTraffic: "masquerade" };
    const file = join(dir, "masquerade.json");
    writeFileSync(file, JSON.stringify(batch(renderFull(options, desiredNftState(options, GOLDEN_MAPPINGS, GOLDEN_EGRESS_IPS)))));
    const result = await inNs(["-c", "-j", "-f", file]);
    assert.equal(result.exitCode, 0, result.stderr);
  });

  it("and the check is not a rubber stamp: a rule naming a missing map is refused", async () => {
    const commands = renderFull(OPTIONS, goldenState());
    const broken = JSON.parse(JSON.stringify(commands).replace("\"@snat_v4\"", "\"@no_such_map\"")) as Command[];
    const file = join(dir, "broken.json");
    writeFileSync(file, JSON.stringify(batch(broken)));
    const result = await inNs(["-c", "-j", "-f", file]);
    assert.notEqual(result.exitCode, 0);
  });
});

describe("chain order (the order the kernel unregisters hooks on a flush)", () => {
  it("creates the chain that sets the fail-closed mark before the NAT chain", () => {
    const added = renderFull(OPTIONS, goldenState()).flatMap((command) => {
      const chain = (command as { add?: { chain?: { name: string; hook?: string } } }).add?.chain;
      return chain?.hook ? [chain.name] : [];
    });
    const marking = added.indexOf("count_in");
    assert.ok(marking >= 0 && marking < added.indexOf("postrouting"), `chains created in the order ${added.join(", ")}`);
  });
});
