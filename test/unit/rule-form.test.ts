import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseTableListing } from "../../appliance/nft/readback.js";
import { ruleForm } from "../../appliance/nft/rule-form.js";
import { desiredNftState, renderFull } from "../../appliance/nft/ruleset.js";
import { diffStates } from "../../appliance/nft/state.js";
import { REWRITE_EGRESS_IPS, REWRITE_GUARDS, REWRITE_MAPPINGS, REWRITE_OPTIONS, REWRITES, REWRITTEN_LISTING } from "../helpers/rule-rewrites.js";

const match = (left: unknown, right: unknown, op = "=="): unknown => ({ match: { op, left, right } });
const l4proto = { meta: { key: "l4proto" } };
const iifname = { meta: { key: "iifname" } };
const saddr = (protocol: string) => ({ payload: { protocol, field: "saddr" } });
const dport = (protocol: string) => ({ payload: { protocol, field: "dport" } });
const ctState = { ct: { key: "state" } };

describe("ruleForm: what nft spells otherwise is the same rule", () => {
  const same: [label: string, sent: unknown[], listed: unknown[]][] = [
    ["an anonymous counter and the values it counted", [{ counter: null }, { drop: null }], [{ counter: { packets: 42, bytes: 4200 } }, { drop: null }]],
    ["a protocol number and its name", [match(l4proto, 112), { accept: null }], [match(l4proto, "vrrp"), { accept: null }]],
    ["a protocol in a one-element set", [match(l4proto, { set: [112] })], [match(l4proto, "vrrp")]],
    ["ip protocol by name", [match({ payload: { protocol: "ip", field: "protocol" } }, 6)], [match({ payload: { protocol: "ip", field: "protocol" } }, "tcp")]],
    ["an IPv6 address in any spelling", [match(saddr("ip6"), "FD00:ffff:0:0::2")], [match(saddr("ip6"), "fd00:ffff::2")]],
    ["a /32 prefix and the bare address", [match(saddr("ip"), { prefix: { addr: "192.0.2.7", len: 32 } })], [match(saddr("ip"), "192.0.2.7")]],
    ["a /128 prefix and the bare address", [match(saddr("ip6"), { prefix: { addr: "fd00::5", len: 128 } })], [match(saddr("ip6"), "fd00::5")]],
    ["a prefix's address in any spelling", [match(saddr("ip6"), { prefix: { addr: "FD00:0::", len: 64 } })], [match(saddr("ip6"), { prefix: { addr: "fd00::", len: 64 } })]],
    ["an anonymous set in any order", [match(dport("udp"), { set: [3781, 3780] })], [match(dport("udp"), { set: [3780, 3781] })]],
    ["a flag list in any order", [match(ctState, ["untracked", "invalid"], "in")], [match(ctState, ["invalid", "untracked"], "in")]],
    ["a hexadecimal mark and its number", [match({ meta: { key: "mark" } }, "0x10")], [match({ meta: { key: "mark" } }, 16)]],
    ["a protocol match that the header match implies", [match(l4proto, "udp"), match(dport("udp"), 53)], [match(dport("udp"), 53)]],
    ["keys in another order", [{ match: { right: "inside", left: iifname, op: "==" } }], [match(iifname, "inside")]],
  ];
  for (const [label, sent, listed] of same) {
    it(label, () => assert.equal(ruleForm(sent), ruleForm(listed)));
  }
});

describe("ruleForm: a rule that does something else differs", () => {
  const base = [match(iifname, "inside"), match(ctState, ["invalid", "untracked"], "in"), { counter: null }, { drop: null }];
  const other: [label: string, edited: unknown[]][] = [
    ["another verdict", [...base.slice(0, 3), { accept: null }]],
    ["another interface", [match(iifname, "inside2"), ...base.slice(1)]],
    ["the opposite operator", [match(iifname, "inside", "!="), ...base.slice(1)]],
    ["a flag less", [base[0], match(ctState, ["invalid"], "in"), ...base.slice(2)]],
    ["one statement more", [...base.slice(0, 3), { accept: null }, { drop: null }]],
    ["a named counter instead of an anonymous one", [...base.slice(0, 2), { counter: "guard_spoofed" }, { drop: null }]],
    ["no counter", [...base.slice(0, 2), { drop: null }]],
  ];
  for (const [label, edited] of other) {
    it(label, () => assert.notEqual(ruleForm(edited), ruleForm(base)));
  }

  it("a protocol match is not another header's, nor a protocol the next match does not imply", () => {
    assert.notEqual(ruleForm([match(l4proto, 112)]), ruleForm([match({ payload: { protocol: "ip", field: "protocol" } }, 112)]));
    assert.notEqual(ruleForm([match(dport("udp"), 3780)]), ruleForm([match(dport("th"), 3780)]));
    assert.notEqual(ruleForm([match(l4proto, "udp"), match(dport("tcp"), 53)]), ruleForm([match(dport("tcp"), 53)]));
  });

  it("order matters outside sets: a concatenation and an operation's operands keep theirs", () => {
    const concat = (a: unknown, b: unknown) => [match({ concat: [a, b] }, "@bound_v4")];
    assert.notEqual(ruleForm(concat(saddr("ether"), saddr("ip"))), ruleForm(concat(saddr("ip"), saddr("ether"))));
    const mark = { meta: { key: "mark" } };
    const mangle = (value: unknown) => [{ mangle: { key: mark, value } }];
    assert.equal(ruleForm(mangle({ "|": [mark, 268435456] })), ruleForm(mangle({ "|": [mark, "0x10000000"] })));
  });

  it("no statements and an absent list are the same empty rule", () => {
    assert.equal(ruleForm(undefined), ruleForm([]));
  });
});

describe("the captured listing of rewritten rules (test/unit/fixtures/listing-rewritten.json)", () => {
  const raw = JSON.parse(readFileSync(REWRITTEN_LISTING, "utf8")) as { nftables: { rule?: { comment: string; expr: unknown[] } }[] };
  const desired = desiredNftState(REWRITE_OPTIONS, REWRITE_MAPPINGS, REWRITE_EGRESS_IPS, REWRITE_GUARDS);
  const rendered = new Map(renderFull(REWRITE_OPTIONS, desired)
    .map((c) => (c["add"] as { rule?: { comment: string; expr: unknown[] } } | undefined)?.rule)
    .filter((r) => r !== undefined).map((r) => [r.comment, r.expr]));
  const listed = new Map(raw.nftables.flatMap((i) => (i.rule ? [[i.rule.comment, i.rule.expr] as const] : [])));

  it("lists the rewritten rules otherwise than they were rendered (nft drops the implied protocol itself)", () => {
    for (const { comment } of REWRITES.filter((r) => r.comment !== "egw:replication-guard")) {
      assert.notDeepEqual(listed.get(comment), rendered.get(comment), comment);
    }
  });

  it("reads back with exactly one difference: the rule edited in place under its comment", () => {
    const edited = REWRITES.filter((r) => r.drift).map((r) => `rule ${r.comment} in chain ${r.chain}`);
    assert.deepEqual(diffStates(desired, parseTableListing(raw)).map((d) => d.what), edited);
  });

  it("and once that rule is as rendered again, with no difference at all", () => {
    const repaired = structuredClone(raw);
    for (const item of repaired.nftables) {
      if (item.rule && REWRITES.some((r) => r.drift && r.comment === item.rule?.comment)) item.rule.expr = rendered.get(item.rule.comment) ?? [];
    }
    assert.deepEqual(diffStates(desired, parseTableListing(repaired)), []);
  });
});
