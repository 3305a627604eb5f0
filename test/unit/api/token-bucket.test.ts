import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TokenBuckets } from "../../../api/limits/token-bucket.js";

/** A clock the test moves by hand. */
function clock(start = 0) {
  const state = { now: start };
  return { state, read: () => state.now };
}

describe("TokenBuckets", () => {
  it("allows a burst, then refuses with the wait until the next request is available", () => {
    const time = clock();
    const buckets = new TokenBuckets({ requestsPerSecond: 10, burst: 3 }, time.read);
    assert.deepEqual([1, 2, 3].map(() => buckets.take("a")), [0, 0, 0]);
    assert.equal(buckets.take("a"), 100, "one request per 100 ms at 10/s");
    time.state.now += 40;
    assert.equal(buckets.take("a"), 60);
  });

  it("refills at the rate, never beyond the burst", () => {
    const time = clock();
    const buckets = new TokenBuckets({ requestsPerSecond: 2, burst: 4 }, time.read);
    for (let i = 0; i < 4; i++) assert.equal(buckets.take("a"), 0);
    time.state.now += 1_000;
    assert.deepEqual([buckets.take("a"), buckets.take("a"), buckets.take("a") > 0], [0, 0, true], "two requests after one second");
    time.state.now += 3_600_000;
    const allowed = Array.from({ length: 10 }, () => buckets.take("a")).filter((wait) => wait === 0).length;
    assert.equal(allowed, 4, "an hour idle refills to the burst, not more");
  });

  it("keeps one bucket per key: one client's burst does not drain another's", () => {
    const time = clock();
    const buckets = new TokenBuckets({ requestsPerSecond: 1, burst: 2 }, time.read);
    buckets.take("a");
    buckets.take("a");
    assert.ok(buckets.take("a") > 0);
    assert.equal(buckets.take("b"), 0);
  });

  it("sustains exactly the rate over a long run", () => {
    const time = clock();
    const buckets = new TokenBuckets({ requestsPerSecond: 50, burst: 200 }, time.read);
    let allowed = 0;
    for (let ms = 0; ms < 10_000; ms += 5) {
      time.state.now = ms;
      if (buckets.take("a") === 0) allowed++;
    }
    // The burst, plus 50 per second for the 10 seconds.
    assert.ok(allowed >= 200 + 499 && allowed <= 200 + 500, `allowed ${allowed}`);
  });

  it("supports a fractional rate (one request every two seconds)", () => {
    const time = clock();
    const buckets = new TokenBuckets({ requestsPerSecond: 0.5, burst: 1 }, time.read);
    assert.equal(buckets.take("a"), 0);
    assert.equal(buckets.take("a"), 2_000);
    time.state.now += 2_000;
    assert.equal(buckets.take("a"), 0);
  });

  it("a clock that steps back neither drains nor refills a bucket", () => {
    const time = clock(10_000);
    const buckets = new TokenBuckets({ requestsPerSecond: 1, burst: 1 }, time.read);
    assert.equal(buckets.take("a"), 0);
    time.state.now = 5_000;
    assert.equal(buckets.take("a"), 1_000);
    time.state.now = 6_000;
    assert.equal(buckets.take("a"), 0);
  });

  it("stays within its memory bound, forgetting idle buckets first", () => {
    const time = clock();
    const buckets = new TokenBuckets({ requestsPerSecond: 1, burst: 2 }, time.read, 3);
    buckets.take("busy");
    buckets.take("busy");
    buckets.take("idle-1");
    time.state.now += 5_000;
    buckets.take("busy");
    buckets.take("busy");
    buckets.take("new");
    assert.ok(buckets.size <= 3);
    assert.ok(buckets.take("busy") > 0, "the busy bucket was kept, still empty");
    for (let i = 0; i < 100; i++) buckets.take(`k${i}`);
    assert.ok(buckets.size <= 3, `size ${buckets.size}`);
  });
});
