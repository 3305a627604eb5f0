import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HeapRelief } from "../../appliance/heap-relief.js";

const MiB = 1024 * 1024;

describe("heap relief after a burst", () => {
  it("collects once the heap has grown past the threshold since the last collection, and not before", () => {
    let heap = 100 * MiB;
    let collections = 0;
    const relief = new HeapRelief({ collect: () => { collections++; heap = 110 * MiB; }, heapBytes: () => heap, thresholdBytes: 48 * MiB });
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
});
