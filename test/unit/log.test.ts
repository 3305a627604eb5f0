import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { createLogger, isoTimeOfMillisecond, journalDestination, journalPriority, stdoutIsJournal } from "../../appliance/log.js";

describe("journald priorities", () => {
  it("maps pino's levels to syslog priorities: trace and debug 7, info 6, warn 4, error 3, fatal 2", () => {
    const levels = pino.levels.values;
    assert.deepEqual(Object.fromEntries(["trace", "debug", "info", "warn", "error", "fatal"].map((l) => [l, journalPriority(levels[l] as number)])),
      { trace: 7, debug: 7, info: 6, warn: 4, error: 3, fatal: 2 });
  });

  it("puts each line's priority in front of it, child loggers included, and leaves the JSON as it was", () => {
    const written: string[] = [];
    const log = pino({ level: "trace", formatters: { level: (label) => ({ level: label }) } }, journalDestination({ write: (chunk) => written.push(chunk) }));
    const child = log.child({ component: "api" });
    log.trace("t");
    child.debug("d");
    log.info("i");
    child.warn("w");
    log.error("e");
    child.fatal("f");
    assert.deepEqual(written.map((l) => l.slice(0, 3)), ["<7>", "<7>", "<6>", "<4>", "<3>", "<2>"]);
    const parsed = written.map((l) => JSON.parse(l.slice(3)) as { level: string; msg: string });
    assert.deepEqual(parsed.map((p) => [p.level, p.msg]), [["trace", "t"], ["debug", "d"], ["info", "i"], ["warn", "w"], ["error", "e"], ["fatal", "f"]]);
  });
});

describe("stdoutIsJournal: the prefix only when fd 1 is the stream systemd connected to the journal", () => {
  const stat = () => ({ dev: 23n, ino: 4711n });

  it("yes when JOURNAL_STREAM names stdout's device and inode", () => {
    assert.equal(stdoutIsJournal("23:4711", stat), true);
  });

  it("no without JOURNAL_STREAM, with a garbled one, or when stdout was redirected since (another inode or device)", () => {
    assert.equal(stdoutIsJournal(undefined, stat), false);
    assert.equal(stdoutIsJournal("", stat), false);
    assert.equal(stdoutIsJournal("23:4711:1", stat), false);
    assert.equal(stdoutIsJournal("x:4711", stat), false);
    assert.equal(stdoutIsJournal("23:4712", stat), false);
    assert.equal(stdoutIsJournal("24:4711", stat), false);
  });

  it("no when stdout cannot be examined", () => {
    assert.equal(stdoutIsJournal("23:4711", () => {
      throw new Error("EBADF");
    }), false);
  });

  it("compares full 64-bit device and inode numbers (no rounding through a double)", () => {
    const big = () => ({ dev: 9_007_199_254_740_993n, ino: 18_446_744_073_709_551_615n });
    assert.equal(stdoutIsJournal("9007199254740993:18446744073709551615", big), true);
    assert.equal(stdoutIsJournal("9007199254740992:18446744073709551615", big), false);
  });

  it("createLogger ignores a JOURNAL_STREAM that is not its stdout (inherited, or stdout redirected)", () => {
    const log = createLogger("info", "egw", { JOURNAL_STREAM: "1:1" });
    assert.equal(log.level, "info");
  });
});

describe("isoTimeOfMillisecond", () => {
  it("gives pino's isoTime field for the millisecond it is asked about, also after answering for another", () => {
    for (const now of [0, 1_700_000_000_123, 1_700_000_000_123, 1_700_000_000_124, 1_700_000_000_000]) {
      assert.equal(isoTimeOfMillisecond(now), `,"time":"${new Date(now).toISOString()}"`);
    }
  });
});
