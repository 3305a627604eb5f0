import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressKey } from "../../../api/limits/client-address.js";
import { FailureWindows } from "../../../api/limits/failure-window.js";

describe("FailureWindows", () => {
  it("blocks a client after max failures until its window ends", () => {
    const time = { now: 1_000 };
    const windows = new FailureWindows({ max: 3, windowMs: 60_000 }, () => time.now);
    for (let i = 0; i < 3; i++) {
      assert.equal(windows.blockedFor("192.0.2.1"), 0);
      windows.recordFailure("192.0.2.1");
    }
    assert.equal(windows.blockedFor("192.0.2.1"), 60_000);
    time.now += 59_000;
    assert.equal(windows.blockedFor("192.0.2.1"), 1_000);
    time.now += 1_000;
    assert.equal(windows.blockedFor("192.0.2.1"), 0, "a new window starts");
  });

  it("counts each client on its own", () => {
    const windows = new FailureWindows({ max: 1, windowMs: 1_000 }, () => 0);
    windows.recordFailure("192.0.2.1");
    assert.ok(windows.blockedFor("192.0.2.1") > 0);
    assert.equal(windows.blockedFor("192.0.2.2"), 0);
  });

  it("forgets failures of a window that ended", () => {
    const time = { now: 0 };
    const windows = new FailureWindows({ max: 2, windowMs: 1_000 }, () => time.now);
    windows.recordFailure("a");
    time.now = 1_000;
    windows.recordFailure("a");
    assert.equal(windows.blockedFor("a"), 0, "one failure in each of two windows");
  });

  it("stays within its memory bound against clients that rotate addresses", () => {
    const time = { now: 0 };
    const windows = new FailureWindows({ max: 1, windowMs: 1_000 }, () => time.now, 100);
    for (let i = 0; i < 10_000; i++) windows.recordFailure(`client-${i}`);
    assert.ok(windows.size <= 100, `size ${windows.size}`);
    assert.ok(windows.blockedFor("client-9999") > 0, "the newest are kept");
  });
});

describe("addressKey", () => {
  const cases: [string, string][] = [
    ["192.0.2.7", "192.0.2.7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::9", "2001:db8:1:2::/64"],
    ["2001:db8:1:3::9", "2001:db8:1:3::/64"],
    ["::1", "::/64"],
  ];
  for (const [address, key] of cases) {
    it(`${address} → ${key}`, () => assert.equal(addressKey(address), key));
  }
});
