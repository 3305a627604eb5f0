import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { AppError } from "../../../appliance/errors.js";
import { ProtocolGuard } from "../../../appliance/replication/protocol-guard.js";
import {
  incompatiblePeer, PROTOCOL_ACCEPTS_HEADER, PROTOCOL_HEADER, protocolHeaders, readProtocol, REPLICATION_PROTOCOL, sharedVersion,
  type ProtocolRange,
} from "../../../appliance/replication/protocol.js";

type LogLine = { level: number; msg: string; [key: string]: unknown };

function guardOf(range: ProtocolRange, clock = { now: 0 }) {
  const lines: LogLine[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  const guard = new ProtocolGuard({ name: "gw-b", peer: "gw-a", range, log, now: () => clock.now, warningMs: 60_000 });
  return { guard, lines, clock };
}

/** The headers a gateway speaking `range` puts on a message written in `version`, as they arrive. */
function sentBy(range: ProtocolRange, version: number): [string | undefined, string | undefined] {
  const headers = protocolHeaders(range, version);
  return [headers[PROTOCOL_HEADER], headers[PROTOCOL_ACCEPTS_HEADER]];
}

function refusal(action: () => unknown): AppError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof AppError, String(error));
    assert.equal(error.code, "incompatible-peer");
    assert.equal(error.status, 409);
    return error;
  }
  assert.fail("expected an incompatible-peer refusal");
}

describe("replication protocol versions", () => {
  it("this release speaks 2 and still speaks 1, the version of the release before it", () => {
    assert.deepEqual(REPLICATION_PROTOCOL, { oldest: 1, newest: 2 });
  });

  it("two gateways use the newest version both speak; none when their ranges do not meet", () => {
    assert.equal(sharedVersion({ oldest: 1, newest: 2 }, { oldest: 1, newest: 2 }), 2);
    assert.equal(sharedVersion({ oldest: 1, newest: 2 }, { oldest: 2, newest: 3 }), 2, "N and N+1");
    assert.equal(sharedVersion({ oldest: 2, newest: 3 }, { oldest: 1, newest: 1 }), undefined, "N+2 and N");
    assert.equal(sharedVersion({ oldest: 1, newest: 2 }, { oldest: 1, newest: 1 }), 1, "this release and the one before");
    assert.equal(sharedVersion({ oldest: 1, newest: 2 }, { oldest: 3, newest: 4 }), undefined);
  });

  it("reads a message without the headers as version 1 (the release before this one sends none)", () => {
    assert.deepEqual(readProtocol(undefined, undefined), { version: 1, range: { oldest: 1, newest: 1 } });
    assert.deepEqual(readProtocol("2", "1-2"), { version: 2, range: { oldest: 1, newest: 2 } });
    assert.deepEqual(readProtocol("3", undefined), { version: 3, range: { oldest: 3, newest: 3 } });
  });

  it("refuses garbled headers: a peer that cannot state its version cannot be understood", () => {
    for (const [version, accepts] of [["two", "1-2"], ["0", undefined], ["2", "2"], ["2", "3-4"], ["2", "2-1"], ["", undefined]] as const) {
      refusal(() => readProtocol(version, accepts));
    }
  });

  it("names both gateways and both versions in the refusal, with the rule an operator follows", () => {
    const error = incompatiblePeer({ local: { name: "gw-b", range: { oldest: 1, newest: 2 } }, peer: { name: "gw-a", range: { oldest: 3, newest: 4 }, version: 4 } });
    assert.match(error.message, /gw-a speaks replication protocol 3-4 \(this message: version 4\), gw-b speaks 1-2/);
    assert.match(error.message, /one release at a time/);
    assert.deepEqual(error.extra, {
      gateway: { name: "gw-b", protocol: { oldest: 1, newest: 2 } },
      peer: { name: "gw-a", protocol: { oldest: 3, newest: 4 }, version: 4 },
    });
  });
});

describe("ProtocolGuard: the peer channel's check of every message", () => {
  it("admits a message of the same release, to be answered in its version", () => {
    const { guard, lines } = guardOf({ oldest: 1, newest: 2 });
    assert.equal(guard.admit(...sentBy({ oldest: 1, newest: 2 }, 2)), 2);
    assert.deepEqual(guard.peerRange, { oldest: 1, newest: 2 });
    assert.deepEqual(guard.warnings(), []);
    assert.deepEqual(lines.filter((l) => l.level >= 40), []);
  });

  it("admits N+1 at N and N at N+1: a rolling upgrade replicates in both directions", () => {
    const n = guardOf({ oldest: 1, newest: 2 }).guard;
    const next = guardOf({ oldest: 2, newest: 3 }).guard;
    // Each writes in the newest version both speak: 2.
    assert.equal(n.admit(...sentBy({ oldest: 2, newest: 3 }, 2)), 2, "N takes N+1's message");
    assert.equal(next.admit(...sentBy({ oldest: 1, newest: 2 }, 2)), 2, "N+1 takes N's message");
  });

  it("admits a message without the headers as version 1 (from the release before this one)", () => {
    const { guard } = guardOf(REPLICATION_PROTOCOL);
    assert.equal(guard.admit(undefined, undefined), 1);
    assert.deepEqual(guard.peerRange, { oldest: 1, newest: 1 });
  });

  it("refuses a message without the headers once version 1 is no longer spoken, naming version 1", () => {
    const { guard } = guardOf({ oldest: 2, newest: 3 });
    const error = refusal(() => guard.admit(undefined, undefined));
    assert.match(error.message, /gw-a speaks replication protocol 1 \(this message: version 1\), gw-b speaks 2-3: no version in common/);
  });

  it("refuses a peer out of range with incompatible-peer naming both versions, logs it once, warns while it lasts", () => {
    const { guard, lines, clock } = guardOf({ oldest: 1, newest: 2 });
    for (let i = 0; i < 5; i++) {
      const error = refusal(() => guard.admit(...sentBy({ oldest: 3, newest: 4 }, 4)));
      assert.match(error.message, /gw-a speaks replication protocol 3-4 \(this message: version 4\), gw-b speaks 1-2: no version in common/);
      clock.now += 1_000;
    }
    const warned = lines.filter((l) => l.level === 40);
    assert.equal(warned.length, 1, "one log line, not one per message");
    assert.equal(warned[0]?.msg, "refused the peer's replication messages: incompatible replication protocol");
    assert.deepEqual(warned[0]?.["peerProtocol"], { oldest: 3, newest: 4 });
    assert.deepEqual(warned[0]?.["protocol"], { oldest: 1, newest: 2 });
    assert.match(guard.warnings()[0] ?? "", /^refusing replication messages from gw-a: gw-a speaks replication protocol 3-4/);
    // The peer stops sending (it was stopped, or upgraded and not yet back): the warning fades.
    clock.now += 61_000;
    assert.deepEqual(guard.warnings(), []);
  });

  it("clears the warning as soon as the peer sends a version it speaks again (the peer was upgraded)", () => {
    const { guard, lines } = guardOf({ oldest: 1, newest: 2 });
    refusal(() => guard.admit(...sentBy({ oldest: 3, newest: 4 }, 4)));
    assert.equal(guard.warnings().length, 1);
    assert.equal(guard.admit(...sentBy({ oldest: 2, newest: 3 }, 2)), 2);
    assert.deepEqual(guard.warnings(), []);
    assert.ok(lines.some((l) => l.msg === "the peer's replication protocol is compatible again"));
  });

  it("ends the refusal when the peer's answer to this gateway's own call shows a shared version (it sends nothing itself)", () => {
    const { guard } = guardOf({ oldest: 1, newest: 2 });
    refusal(() => guard.admit(...sentBy({ oldest: 3, newest: 4 }, 4)));
    guard.peerSpeaks({ oldest: 3, newest: 4 });
    assert.equal(guard.warnings().length, 1, "still incompatible");
    guard.peerSpeaks({ oldest: 1, newest: 2 });
    assert.deepEqual(guard.warnings(), []);
    assert.deepEqual(guard.peerRange, { oldest: 1, newest: 2 });
  });

  it("asks a newer peer's first message to be resent in the shared version, without a warning", () => {
    const { guard, lines } = guardOf({ oldest: 1, newest: 2 });
    const error = refusal(() => guard.admit(...sentBy({ oldest: 2, newest: 3 }, 3)));
    assert.match(error.message, /wrote this message in replication protocol version 3, which gw-b does not speak \(it speaks 1-2\); both speak version 2/);
    assert.equal(error.extra["shared"], 2);
    assert.deepEqual(guard.warnings(), []);
    assert.deepEqual(lines.filter((l) => l.level >= 40), []);
  });

  it("states this gateway's range on every answer; a refusal is written in its newest version", () => {
    const { guard } = guardOf({ oldest: 1, newest: 2 });
    assert.deepEqual(guard.headers(), { [PROTOCOL_HEADER]: "2", [PROTOCOL_ACCEPTS_HEADER]: "1-2" });
    assert.deepEqual(guard.headers(1), { [PROTOCOL_HEADER]: "1", [PROTOCOL_ACCEPTS_HEADER]: "1-2" });
  });
});
