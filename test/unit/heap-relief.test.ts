import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HeapRelief } from "../../appliance/heap-relief.js";

const MiB = 1024 * 1024;

describe("heap relief after a burst", () => {
  it("collects once the heap has grown past the threshold since the last collection, and not before", () => {
    let heap = 100 * MiB;
    let collections = 0;
    const relief = new HeapRelief({ collect: () => { collections++; heap = 110 * MiB; }, heapBytes: () => heap, thresholdBytes: 48 * MiB, minIntervalMs: 0 });
    heap = 140 * MiB;
    assert.equal(relief.afterBurst(), false, "40 MiB of growth is below the threshold");
    heap = 250 * MiB;
    assert.equal(relief.afterBurst(), true);
    assert.equal(collections, 1);
    heap = 150 * MiB;
    assert.equal(relief.afterBurst(), false, "measured from the heap after the collection (110 MiB)");
    heap = 160 * MiB;
    assert.equal(relief.afterBurst(), true);
    assert.equal(collections, 2);
  });

  it("does nothing without a way to collect (node without --expose-gc)", () => {
    let heap = 0;
    const relief = new HeapRelief({ collect: undefined, heapBytes: () => heap });
    heap = 1024 * MiB;
    assert.equal(relief.afterBurst(), false);
  });

  it("collects at most once per interval: a burst that comes sooner is collected once the interval is over", () => {
    let heap = 100 * MiB;
    let now = 0;
    let collections = 0;
    const pending: { check: () => void; at: number }[] = [];
    const relief = new HeapRelief({
      collect: () => { collections++; heap = 100 * MiB; }, heapBytes: () => heap, thresholdBytes: 48 * MiB,
      minIntervalMs: 10_000, now: () => now, later: (check, delayMs) => pending.push({ check, at: now + delayMs }),
    });
    heap = 200 * MiB;
    assert.equal(relief.afterBurst(), true, "the first burst is collected at once");
    now = 1_000;
    heap = 200 * MiB;
    assert.equal(relief.afterBurst(), false, "1 s later: not yet");
    assert.equal(relief.afterBurst(), false);
    assert.deepEqual(pending.map((p) => p.at), [10_000], "one deferred check, when the interval is over");
    now = 10_000;
    pending.shift()?.check();
    assert.equal(collections, 2, "the deferred check collected the burst that came too soon");
  });
});

