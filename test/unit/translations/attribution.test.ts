import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Mapping } from "../../../appliance/model.js";
import { Attribution } from "../../../appliance/translations/attribution.js";
import type { ConntrackEvent } from "../../../appliance/translation-model.js";

const mapping = (cluster: string, name: string, sourceCidr: string, egressIp: string, more: Partial<Mapping> = {}): Mapping =>
  ({ cluster, name, sourceCidr, egressIp, destinations: [], excludedDestinations: [], labels: {}, ...more });
const event = (podAddress: string, egressAddress: string, destinationAddress = "198.51.100.7"): ConntrackEvent => ({
  kind: "new", conntrackId: 1, protocol: "tcp", protocolNumber: 6, family: podAddress.includes(":") ? 6 : 4,
  podAddress, podPort: 1000, destinationAddress, destinationPort: 443, egressAddress, egressPort: 1000, startMs: 0,
});

describe("Attribution: which mapping translated a connection", () => {
  const attribution = new Attribution([
    mapping("blue", "web", "10.1.0.0/16", "203.0.113.10"),
    mapping("blue", "web-partner", "10.1.0.0/16", "203.0.113.11", { destinations: ["192.0.2.0/24"] }),
    mapping("blue", "db", "10.1.5.0/24", "203.0.113.10"),
    mapping("blue", "not-corp", "10.1.0.0/16", "203.0.113.12", { excludedDestinations: ["172.16.0.0/12"] }),
    mapping("green", "all", "10.2.0.0/16", "203.0.113.10"),
    mapping("green", "v6", "fd00:2::/48", "2001:db8::10"),
  ]);

  it("finds the mapping by source prefix and egress IP", () => {
    assert.deepEqual(attribution.attribute(event("10.1.200.3", "203.0.113.10")), { cluster: "blue", mapping: "web" });
    assert.deepEqual(attribution.attribute(event("10.2.0.1", "203.0.113.10")), { cluster: "green", mapping: "all" });
    assert.deepEqual(attribution.attribute(event("10.2.255.255", "203.0.113.10")), { cluster: "green", mapping: "all" });
  });

  it("prefers the most specific source prefix, and falls back to the outer one around it", () => {
    assert.deepEqual(attribution.attribute(event("10.1.5.9", "203.0.113.10")), { cluster: "blue", mapping: "db" });
    assert.deepEqual(attribution.attribute(event("10.1.4.255", "203.0.113.10")), { cluster: "blue", mapping: "web" });
    assert.deepEqual(attribution.attribute(event("10.1.6.0", "203.0.113.10")), { cluster: "blue", mapping: "web" });
  });

  it("tells mappings of one source apart by egress IP, destinations and excluded destinations", () => {
    assert.deepEqual(attribution.attribute(event("10.1.0.1", "203.0.113.11", "192.0.2.9")), { cluster: "blue", mapping: "web-partner" });
    assert.equal(attribution.attribute(event("10.1.0.1", "203.0.113.11", "192.0.3.9")), null);
    assert.deepEqual(attribution.attribute(event("10.1.0.1", "203.0.113.12")), { cluster: "blue", mapping: "not-corp" });
    assert.equal(attribution.attribute(event("10.1.0.1", "203.0.113.12", "172.20.0.1")), null);
  });

  it("returns null for what no mapping explains: another egress IP, a source outside every prefix", () => {
    assert.equal(attribution.attribute(event("10.1.0.1", "203.0.113.99")), null);
    assert.equal(attribution.attribute(event("10.3.0.1", "203.0.113.10")), null);
    assert.equal(attribution.attribute(event("10.0.255.255", "203.0.113.10")), null);
  });

  it("reads IPv6 in any spelling inet_ntop or an operator uses", () => {
    assert.deepEqual(attribution.attribute(event("fd00:2:0:ffff::1", "2001:db8::10")), { cluster: "green", mapping: "v6" });
    assert.deepEqual(attribution.attribute(event("FD00:0002:0000:0000:0000:0000:0000:0001", "2001:0db8:0:0:0:0:0:10")), { cluster: "green", mapping: "v6" });
    assert.equal(attribution.attribute(event("fd00:3::1", "2001:db8::10")), null);
    assert.equal(attribution.attribute(event("fd00:2::1", "203.0.113.10")), null, "a family mix is no match");
  });

  it("answers the same whatever order the mappings came in", () => {
    const list = [mapping("b", "y", "10.9.0.0/24", "203.0.113.1"), mapping("a", "z", "10.9.0.0/24", "203.0.113.1")];
    for (const order of [list, [...list].reverse()]) {
      assert.deepEqual(new Attribution(order).attribute(event("10.9.0.1", "203.0.113.1")), { cluster: "a", mapping: "z" });
    }
  });

  it("finds each of 100k disjoint prefixes, and nothing between them", () => {
    const many: Mapping[] = [];
    const text = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join(".");
    for (let i = 0; i < 100_000; i++) many.push(mapping(`c${i % 7}`, `m${i}`, `${text(0x0a000000 + i * 128)}/26`, `203.0.113.${i % 3}`));
    const big = new Attribution(many);
    for (const i of [0, 1, 4_999, 77_777, 99_999]) {
      assert.deepEqual(big.attribute(event(text(0x0a000000 + i * 128 + 63), `203.0.113.${i % 3}`)), { cluster: `c${i % 7}`, mapping: `m${i}` });
      assert.equal(big.attribute(event(text(0x0a000000 + i * 128 + 64), `203.0.113.${i % 3}`)), null);
    }
  });
});
