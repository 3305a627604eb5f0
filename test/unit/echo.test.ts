import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseEcho, unconfirmedChanges } from "../../appliance/nft/echo.js";
import type { Command } from "../../appliance/nft/json.js";

const t = { family: "inet", table: "egress_gateway" };
const element = (verb: "add" | "delete", name: string, elem: unknown[]): Command => ({ [verb]: { element: { ...t, name, elem } } });
const counter = (verb: "add" | "delete", name: string, handle?: number): Command => ({ [verb]: { counter: { ...t, name, ...(handle ? { handle } : {}) } } });
const prefix = (addr: string, len: number) => ({ prefix: { addr, len } });

/** An incremental batch as renderIncremental sends it. */
const SENT: Command[] = [
  counter("add", "in_v4_203_0_113_11"),
  element("delete", "snat_v4", [[prefix("10.244.1.0", 26), "203.0.113.10"]]),
  element("add", "snat_dst_v4", [[{ concat: [prefix("10.244.3.7", 32), prefix("192.0.2.10", 32)] }, "203.0.113.11"]]),
  element("add", "snat_v6", [[prefix("fd00::5", 128), "2001:db8::10"]]),
  element("add", "eip_in_v4", [["203.0.113.11", "in_v4_203_0_113_11"]]),
  element("add", "bound_v4", [{ concat: ["02:aa:00:00:00:11", prefix("10.244.3.7", 32)] }]),
  counter("delete", "in_v4_203_0_113_10"),
];

describe("unconfirmedChanges", () => {
  it("nothing, when the echo reports every change (nft 1.0.6 echoes what it was sent, with handles)", () => {
    const echoed = [counter("add", "in_v4_203_0_113_11", 40), ...SENT.slice(1)];
    assert.deepEqual(unconfirmedChanges(SENT, echoed), []);
  });

  it("a host prefix echoed as a bare address, an address and a MAC in other spellings, are confirmed", () => {
    const echoed: Command[] = [
      counter("add", "in_v4_203_0_113_11"),
      element("delete", "snat_v4", [[prefix("10.244.1.0", 26), "203.0.113.10"]]),
      element("add", "snat_dst_v4", [[{ concat: ["10.244.3.7", "192.0.2.10"] }, "203.0.113.11"]]),
      element("add", "snat_v6", [["FD00:0::5", "2001:db8::10"]]),
      element("add", "eip_in_v4", [["203.0.113.11", "in_v4_203_0_113_11"]]),
      element("add", "bound_v4", [{ concat: ["02:AA:00:00:00:11", "10.244.3.7"] }]),
      counter("delete", "in_v4_203_0_113_10"),
    ];
    assert.deepEqual(unconfirmedChanges(SENT, echoed), []);
  });

  it("names each change the echo left out, elements one by one", () => {
    const echoed = SENT.filter((c) => !("delete" in c) && JSON.stringify(c).indexOf("bound_v4") < 0);
    assert.deepEqual(unconfirmedChanges(SENT, echoed), [
      "delete snat_v4 10.244.1.0/26",
      "add bound_v4 02:aa:00:00:00:11 . 10.244.3.7/32",
      "delete counter in_v4_203_0_113_10",
    ]);
  });

  it("an empty echo confirms nothing; an echo of the opposite verb does not confirm", () => {
    assert.equal(unconfirmedChanges(SENT, []).length, 7);
    assert.deepEqual(unconfirmedChanges([element("add", "snat_v4", [[prefix("10.0.0.0", 8), "203.0.113.10"]])], [element("delete", "snat_v4", [[prefix("10.0.0.0", 8), "203.0.113.10"]])]),
      ["add snat_v4 10.0.0.0/8"]);
  });
});

describe("parseEcho", () => {
  it("reads nft -e -j output without its metainfo, and nothing from an empty output", () => {
    assert.deepEqual(parseEcho(""), []);
    assert.deepEqual(parseEcho("\n"), []);
    assert.deepEqual(parseEcho(JSON.stringify({ nftables: [{ metainfo: { json_schema_version: 1 } }, counter("add", "x")] })), [counter("add", "x")]);
    assert.deepEqual(parseEcho("{}"), []);
  });
});
