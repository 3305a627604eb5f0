import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AttributedPolicyEvent } from "../../../appliance/policy/policy-event.js";
import { RecentDenials } from "../../../appliance/policy/recent-denials.js";

let port = 0;
function event(cluster: string | null): AttributedPolicyEvent {
  port++;
  return {
    verdict: "denied", atMs: port, family: 4, source: "10.0.0.1", destination: "192.0.2.1", protocol: "udp", protocolNumber: 17,
    sourcePort: port, destinationPort: 9, cluster, mapping: cluster === null ? null : "web",
  };
}
const ports = (events: AttributedPolicyEvent[]) => events.map((e) => e.sourcePort);

describe("recent denials: bounded, per cluster", () => {
  it("keeps the newest per cluster and lists them newest first", () => {
    const recent = new RecentDenials({ perCluster: 3, total: 100 });
    const blue = Array.from({ length: 5 }, () => event("blue"));
    for (const e of blue) recent.add(e);
    assert.deepEqual(ports(recent.ofCluster("blue")), ports(blue.slice(2).reverse()));
    assert.deepEqual(recent.ofCluster("blue", 2), blue.slice(3).reverse());
    assert.deepEqual(recent.ofCluster("red"), []);
    assert.equal(recent.count, 3);
  });

  it("a noisy cluster does not push out a quiet one's events; it pushes out its own", () => {
    const recent = new RecentDenials({ perCluster: 200, total: 10 });
    const quiet = [event("quiet"), event("quiet"), event("quiet")];
    for (const e of quiet) recent.add(e);
    for (let i = 0; i < 1_000; i++) recent.add(event("noisy"));
    assert.equal(recent.count, 10);
    assert.deepEqual(recent.ofCluster("quiet"), [...quiet].reverse());
    assert.equal(recent.ofCluster("noisy").length, 7);
    assert.equal(recent.ofCluster("noisy")[0]?.sourcePort, port, "the noisy cluster keeps its newest");
  });

  it("over the total with many clusters, each keeps its fair share", () => {
    const recent = new RecentDenials({ perCluster: 200, total: 12 });
    for (let i = 0; i < 10; i++) for (const cluster of ["a", "b", "c"]) recent.add(event(cluster));
    assert.deepEqual(["a", "b", "c"].map((c) => recent.ofCluster(c).length), [4, 4, 4]);
    for (let i = 0; i < 50; i++) recent.add(event("d"));
    assert.deepEqual(["a", "b", "c", "d"].map((c) => recent.ofCluster(c).length), [3, 3, 3, 3]);
    assert.equal(recent.count, 12);
  });

  it("keeps unattributed events in a bucket of their own, shown only in the administrator's views", () => {
    const recent = new RecentDenials({ perCluster: 5, total: 8 });
    const blue = [event("blue"), event("blue")];
    for (const e of blue) recent.add(e);
    for (let i = 0; i < 20; i++) recent.add(event(null));
    assert.deepEqual(recent.ofCluster("blue"), [...blue].reverse(), "a flood of unattributed sources leaves the clusters alone");
    assert.equal(recent.unattributed().length, 5);
    assert.ok(recent.unattributed().every((e) => e.cluster === null));
    const all = recent.all();
    assert.equal(all.length, 7);
    assert.deepEqual(ports(all), [...ports(all)].sort((a, b) => (b ?? 0) - (a ?? 0)), "newest first across buckets");
    assert.deepEqual(ports(recent.all(2)), ports(all.slice(0, 2)));
  });

  it("refuses limits below one", () => {
    assert.throws(() => new RecentDenials({ perCluster: 0, total: 10 }), RangeError);
  });
});
