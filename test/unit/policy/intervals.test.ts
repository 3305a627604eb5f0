import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  addressRangeText, carve, intersect, normalize, numberRangeText, prefixLength, prefixRange, splitPrefixes, subtract,
} from "../../../appliance/policy/intervals.js";

const r = (lo: number, hi: number) => ({ lo, hi });
const v4 = (text: string) => prefixRange(text, "t");

describe("interval arithmetic", () => {
  it("normalize sorts, joins overlapping and adjacent ranges, and keeps gaps", () => {
    assert.deepEqual(normalize([r(10, 20), r(0, 3), r(4, 5), r(15, 30), r(32, 40)]), [r(0, 5), r(10, 30), r(32, 40)]);
    assert.deepEqual(normalize([{ lo: 5n, hi: 9n }, { lo: 0n, hi: 4n }]), [{ lo: 0n, hi: 9n }]);
    assert.deepEqual(normalize([]), []);
  });

  it("subtract cuts holes, edges and whole ranges", () => {
    assert.deepEqual(subtract([r(0, 100)], [r(10, 19), r(50, 200)]), [r(0, 9), r(20, 49)]);
    assert.deepEqual(subtract([r(0, 10), r(20, 30)], [r(5, 25)]), [r(0, 4), r(26, 30)]);
    assert.deepEqual(subtract([r(0, 10)], [r(0, 10)]), []);
    assert.deepEqual(subtract([r(0, 10)], []), [r(0, 10)]);
    assert.deepEqual(subtract([r(5, 10)], [r(0, 4), r(11, 12)]), [r(5, 10)]);
    assert.deepEqual(subtract([r(0, 65535)], [r(443, 443)]), [r(0, 442), r(444, 65535)]);
  });

  it("intersect keeps only the common parts", () => {
    assert.deepEqual(intersect([r(0, 10), r(20, 30)], [r(5, 25)]), [r(5, 10), r(20, 25)]);
    assert.deepEqual(intersect([r(0, 10)], [r(11, 20)]), []);
    assert.deepEqual(intersect([r(0, 65535)], [r(80, 80), r(443, 443)]), [r(80, 80), r(443, 443)]);
  });

  it("carve removes the excepts of the prefix's own family", () => {
    const carved = carve("10.0.0.0/24", ["10.0.0.128/25", "fd00::/64"], "d");
    assert.equal(carved.family, 4);
    assert.deepEqual(carved.ranges.map((x) => addressRangeText(x, 4)), ["10.0.0.0/25"]);
    const holed = carve("10.0.0.0/24", ["10.0.0.16/28"], "d").ranges.map((x) => addressRangeText(x, 4));
    assert.deepEqual(holed, ["10.0.0.0/28", "10.0.0.32-10.0.0.255"]);
  });

  it("range text: a whole prefix as net/len (one address as /32, /128), anything else as lo-hi", () => {
    assert.equal(addressRangeText(v4("192.0.2.0/24"), 4), "192.0.2.0/24");
    assert.equal(addressRangeText(v4("192.0.2.7/32"), 4), "192.0.2.7/32");
    assert.equal(addressRangeText({ lo: v4("192.0.2.1/32").lo, hi: v4("192.0.2.9/32").lo }, 4), "192.0.2.1-192.0.2.9");
    assert.equal(addressRangeText(prefixRange("2001:db8::1/128", "t"), 6), "2001:db8::1/128");
    assert.equal(addressRangeText(prefixRange("::/0", "t"), 6), "::/0");
    assert.equal(addressRangeText(v4("0.0.0.0/0"), 4), "0.0.0.0/0");
    assert.equal(prefixLength({ lo: 1n, hi: 2n }, 4), undefined);
    assert.equal(numberRangeText(r(6, 6)), "6");
    assert.equal(numberRangeText(r(0, 255)), "0-255");
  });

  it("splits a range into the fewest prefixes", () => {
    const range = { lo: v4("10.0.0.1/32").lo, hi: v4("10.0.0.9/32").lo };
    assert.deepEqual(splitPrefixes(range, 4), ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/31"]);
    assert.deepEqual(splitPrefixes(v4("10.0.0.0/8"), 4), ["10.0.0.0/8"]);
    assert.deepEqual(splitPrefixes(prefixRange("fd00::/120", "t"), 6), ["fd00::/120"]);
  });
});
