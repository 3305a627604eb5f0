import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NAT_ICMP_IDS, NAT_SOURCE_PORTS, PortTally } from "../../../appliance/translations/port-tally.js";
import type { TranslationRecord } from "../../../appliance/translation-model.js";

let nextId = 1;
/** An open record; `overrides` picks the tuple. */
function record(overrides: Partial<TranslationRecord> = {}): TranslationRecord {
  return {
    id: nextId++, gateway: "gw-a", cluster: "alpha", mapping: "erp", protocol: "tcp", family: 4,
    podAddress: "10.244.1.5", podPort: 40_000, destinationAddress: "198.51.100.7", destinationPort: 443,
    egressAddress: "203.0.113.10", egressPort: 20_000, startMs: 1_000, endMs: null, endReason: null, counters: null,
    ...overrides,
  };
}
const ended = (r: TranslationRecord): TranslationRecord => ({ ...r, endMs: 2_000, endReason: "kernel" });

describe("PortTally", () => {
  it("counts open connections per egress IP and destination, and forgets a destination whose last connection closed", () => {
    const tally = new PortTally();
    const a = record({ podPort: 1, egressPort: 1024 });
    const b = record({ podPort: 2, egressPort: 1025 });
    const other = record({ destinationPort: 80, egressPort: 1024 });
    for (const r of [a, b, other]) tally.opened(r);
    const usage = tally.forEgress("203.0.113.10");
    assert.equal(usage.destinations, 2);
    assert.deepEqual(usage.busiest[0], {
      destinationAddress: "198.51.100.7", destinationPort: 443, protocol: "tcp", inUse: 2, available: NAT_SOURCE_PORTS, utilization: 2 / NAT_SOURCE_PORTS,
    });
    assert.equal(usage.busiest[1]?.inUse, 1);
    assert.equal(usage.maxUtilization, 2 / NAT_SOURCE_PORTS);
    tally.closed(ended(a));
    tally.closed(ended(b));
    assert.deepEqual(tally.forEgress("203.0.113.10").busiest.map((d) => [d.destinationPort, d.inUse]), [[80, 1]]);
    tally.closed(ended(other));
    assert.deepEqual(tally.forEgress("203.0.113.10"), { egressAddress: "203.0.113.10", destinations: 0, busiest: [], maxUtilization: 0 });
    assert.deepEqual(tally.perEgress(), [], "an egress IP without open connections is forgotten");
    assert.equal(tally.openConnections, 0);
  });

  it("counts a repeated open of the same connection once", () => {
    const tally = new PortTally();
    const r = record();
    tally.opened(r);
    tally.opened({ ...r, id: r.id + 100 });
    assert.equal(tally.forEgress("203.0.113.10").busiest[0]?.inUse, 1);
    tally.closed(ended(r));
    assert.equal(tally.forEgress("203.0.113.10").destinations, 0, "one close ends it");
  });

  it("ignores a close without a matching open, so no count goes negative", () => {
    const tally = new PortTally();
    const open = record({ egressPort: 1024 });
    tally.opened(open);
    tally.closed(ended(record({ egressPort: 1025 })));
    tally.closed(ended(open));
    tally.closed(ended(open));
    assert.equal(tally.openConnections, 0);
    tally.opened(record({ egressPort: 1030 }));
    assert.equal(tally.forEgress("203.0.113.10").busiest[0]?.inUse, 1, "the second close of the same connection took nothing away");
  });

  it("keys connections by their whole tuple: the same egress port towards two destinations is two connections", () => {
    const tally = new PortTally();
    tally.opened(record({ destinationAddress: "198.51.100.7" }));
    tally.opened(record({ destinationAddress: "198.51.100.8" }));
    tally.opened(record({ protocol: "udp" }));
    assert.equal(tally.openConnections, 3);
    assert.equal(tally.forEgress("203.0.113.10").destinations, 3);
  });

  it("takes a second pod on an egress port held open as a missed end: one connection, closed by the newer pod only", () => {
    const tally = new PortTally();
    const first = record({ podAddress: "10.244.1.5", egressPort: 1024 });
    const second = record({ podAddress: "10.244.1.6", egressPort: 1024 });
    tally.opened(first);
    tally.opened(second);
    assert.equal(tally.openConnections, 1, "the kernel never holds one reply tuple twice");
    tally.closed(ended(first));
    assert.equal(tally.openConnections, 1, "the older connection's late end does not close the newer one");
    tally.closed(ended(second));
    assert.equal(tally.openConnections, 0);
  });

  it("gives ICMP its 65,536 ids per destination address, and leaves protocols without ports out", () => {
    const tally = new PortTally();
    tally.opened(record({ protocol: "icmp", destinationPort: 0, podPort: 7, egressPort: 7 }));
    tally.opened(record({ protocol: "other", destinationPort: 0, podPort: 0, egressPort: 0 }));
    const usage = tally.forEgress("203.0.113.10");
    assert.equal(usage.destinations, 1);
    assert.equal(usage.busiest[0]?.available, NAT_ICMP_IDS);
  });

  it("returns the top N by utilization with a stable order for ties, and the busiest's utilization as the maximum", () => {
    const tally = new PortTally();
    // Destination port p gets p connections: 1..30.
    for (let port = 1; port <= 30; port += 1) {
      for (let i = 0; i < port; i += 1) tally.opened(record({ destinationPort: port, podPort: i, egressPort: 1024 + i }));
    }
    tally.opened(record({ destinationAddress: "198.51.100.1", destinationPort: 30, podPort: 1 }));
    for (let i = 1; i < 30; i += 1) tally.opened(record({ destinationAddress: "198.51.100.1", destinationPort: 30, podPort: 1 + i, egressPort: 5000 + i }));
    const usage = tally.forEgress("203.0.113.10", 4);
    assert.equal(usage.destinations, 31);
    assert.deepEqual(usage.busiest.map((d) => `${d.destinationAddress}:${d.destinationPort}=${d.inUse}`),
      ["198.51.100.1:30=30", "198.51.100.7:30=30", "198.51.100.7:29=29", "198.51.100.7:28=28"]);
    assert.equal(usage.maxUtilization, 30 / NAT_SOURCE_PORTS);
    assert.equal(tally.forEgress("203.0.113.10").busiest.length, 10, "ten by default");
    assert.equal(tally.forEgress("203.0.113.10", 100).busiest.length, 31);
    assert.deepEqual(tally.forEgress("203.0.113.10", 0).busiest, []);
  });

  it("answers per egress IP, by address", () => {
    const tally = new PortTally();
    tally.opened(record({ egressAddress: "203.0.113.11" }));
    tally.opened(record({ egressAddress: "2001:db8::10", family: 6, podAddress: "fd00:10:244::5", destinationAddress: "2001:db8:1::7" }));
    tally.opened(record({ egressAddress: "203.0.113.10" }));
    assert.deepEqual(tally.perEgress().map((e) => e.egressAddress), ["2001:db8::10", "203.0.113.10", "203.0.113.11"]);
    assert.deepEqual(tally.perEgress(1).map((e) => e.busiest.length), [1, 1, 1]);
  });

  it("is seeded from the store's open records after a restart, skipping ended ones and not double counting live events", () => {
    const tally = new PortTally();
    const live = record({ egressPort: 1024 });
    tally.opened(live);
    tally.seed([live, record({ egressPort: 1025 }), ended(record({ egressPort: 1026 }))]);
    assert.equal(tally.forEgress("203.0.113.10").busiest[0]?.inUse, 2);
  });

  it("holds memory for open connections only: a hundred thousand opens and closes leave nothing behind", () => {
    const tally = new PortTally();
    const records: TranslationRecord[] = [];
    for (let i = 0; i < 100_000; i += 1) {
      const r = record({ podPort: i % 60_000, egressPort: 1024 + (i % 60_000), destinationAddress: `198.51.${(i >> 16) & 255}.${(i >> 8) & 255}` });
      tally.opened(r);
      records.push(r);
    }
    assert.equal(tally.openConnections, 100_000);
    assert.equal(tally.forEgress("203.0.113.10").destinations, 391);
    for (const r of records) tally.closed(ended(r));
    assert.equal(tally.openConnections, 0);
    assert.deepEqual(tally.perEgress(), []);
  });
});
