import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonicalAddress, elementKey } from "../../appliance/nft/element-key.js";

const FLOOR = ["ipv4_addr", "inet_proto", "inet_service"];
const ALLOW6 = ["ipv6_addr", "ipv6_addr", "inet_proto", "inet_service"];

/** Keys as nft 1.0.6 lists them (`nft -j list table`), protocols by their /etc/protocols names. */
describe("elementKey with protocols and ports", () => {
  it("reads each part by the set's type", () => {
    const cases: [unknown, string][] = [
      [{ concat: [{ prefix: { addr: "10.0.0.0", len: 24 } }, "tcp", { range: [400, 500] }] }, "10.0.0.0/24 . 6 . 400-500"],
      [{ concat: [{ range: ["10.0.2.1", "10.0.2.9"] }, { range: [0, 255] }, { range: [0, 65535] }] }, "10.0.2.1-10.0.2.9 . 0-255 . 0-65535"],
      [{ concat: ["10.0.3.1", { range: [6, 17] }, 53] }, "10.0.3.1/32 . 6-17 . 53"],
      [{ concat: ["10.0.4.0", "icmp", { range: [0, 65535] }] }, "10.0.4.0/32 . 1 . 0-65535"],
      [{ concat: ["10.0.5.0", "sctp", { range: [1024, 2047] }] }, "10.0.5.0/32 . 132 . 1024-2047"],
      [{ concat: ["10.0.6.0", "udp", 0] }, "10.0.6.0/32 . 17 . 0"],
      [{ concat: ["10.0.7.0", "ipv6-icmp", 80] }, "10.0.7.0/32 . 58 . 80"],
      [{ concat: ["10.0.8.0", "ax.25", 80] }, "10.0.8.0/32 . 93 . 80"],
      [{ concat: ["10.0.9.0", 200, { range: ["tcp", "udp"] }] }, "10.0.9.0/32 . 200 . 6-17"],
    ];
    for (const [expr, key] of cases) assert.equal(elementKey(expr, true, FLOOR), key);
  });

  it("unwraps timeouts and reads a range that is one prefix as that prefix", () => {
    const timed = { elem: { val: { concat: [{ prefix: { addr: "fd00::", len: 64 } }, { range: ["2001:db8::1", "2001:db8::9"] }, "tcp", { range: [400, 500] }] }, timeout: 30, expires: 29 } };
    assert.equal(elementKey(timed, true, ALLOW6), "fd00::/64 . 2001:db8::1-2001:db8::9 . 6 . 400-500");
    const bare = { concat: [{ prefix: { addr: "fd00::", len: 64 } }, "2001:DB8::1:0", "ip", { range: [0, 65535] }] };
    assert.equal(elementKey(bare, true, ALLOW6), "fd00::/64 . 2001:db8::1:0/128 . 0 . 0-65535");
    assert.equal(elementKey({ range: ["10.0.1.0", "10.0.1.255"] }, true, "ipv4_addr"), "10.0.1.0/24");
    assert.equal(elementKey({ range: ["10.0.1.1", "10.0.1.1"] }, true, "ipv4_addr"), "10.0.1.1/32");
  });

  it("without the type, the spelling decides, and numbers never get a host length", () => {
    assert.equal(elementKey({ concat: ["10.0.6.0", "udp", 0] }, true), "10.0.6.0/32 . 17 . 0");
    assert.equal(elementKey({ concat: ["02:00:00:00:00:AA", { prefix: { addr: "10.0.0.0", len: 8 } }] }, true), "02:00:00:00:00:aa . 10.0.0.0/8");
    assert.equal(elementKey("10.0.0.1", false), "10.0.0.1");
    assert.equal(elementKey({ concat: [{ prefix: { addr: "10.0.0.0", len: 24 } }, 6, { range: [1, 2] }] }, true), "10.0.0.0/24 . 6 . 1-2");
  });
});

describe("canonicalAddress", () => {
  it("takes canonical IPv4 text as it is and parses everything else strictly", () => {
    assert.equal(canonicalAddress("10.0.0.1"), "10.0.0.1");
    assert.equal(canonicalAddress("255.255.255.0"), "255.255.255.0");
    assert.equal(canonicalAddress("2001:DB8:0::1"), "2001:db8::1");
    for (const text of ["256.1.1.1", "010.1.2.3", "1.2.3"]) assert.throws(() => canonicalAddress(text), /not an IPv4 or IPv6 address/, text);
  });
});
