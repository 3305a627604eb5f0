import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";
import { parsePolicyLogLine } from "../../../appliance/policy/policy-event.js";

// Captured from ulogd 2.0.8 (NFLOG → BASE → IFINDEX → IP2STR → JSON) in a namespace whose output chain logged to
// group 7: UDP to 10.77.0.2:9 (egw-policy-deny), UDP over IPv6 to ::1:9 (egw-floor-deny), TCP to 10.77.0.2:80
// (egw-policy-audit), ICMPv6 echo request and reply (egw-policy-audit), TCP over IPv6 to ::1:443
// (egw-policy-deny), ICMP echo to 10.77.0.2 (egw-floor-deny).
const lines = readFileSync(join(PACKAGE_ROOT, "test/unit/fixtures/ulogd-policy/capture.jsonl"), "utf8").split("\n").filter(Boolean);
const events = lines.map((line) => parsePolicyLogLine(line, 42));

describe("policy log: ulogd NFLOG JSON lines → events", () => {
  it("reads every captured line", () => {
    assert.equal(lines.length, 7);
    assert.ok(events.every((e) => e !== undefined));
  });

  it("reads a denied UDP packet over IPv4: verdict from the prefix, addresses, ports, the kernel's time", () => {
    assert.deepEqual(events[0], {
      verdict: "denied", atMs: 1_796_268_427_277, family: 4, source: "10.77.0.1", destination: "10.77.0.2",
      protocol: "udp", protocolNumber: 17, sourcePort: 43662, destinationPort: 9,
    });
  });

  it("reads the floor's and the audit's prefixes, TCP, and IPv6", () => {
    assert.deepEqual(events.map((e) => [e?.verdict, e?.family, e?.protocol, e?.destination, e?.destinationPort]), [
      ["denied", 4, "udp", "10.77.0.2", 9],
      ["floor-denied", 6, "udp", "::1", 9],
      ["audited", 4, "tcp", "10.77.0.2", 80],
      ["audited", 6, "icmpv6", "::1", null],
      ["audited", 6, "icmpv6", "::1", null],
      ["denied", 6, "tcp", "::1", 443],
      ["floor-denied", 4, "icmp", "10.77.0.2", null],
    ]);
    assert.equal(events[5]?.sourcePort, 52274);
    assert.equal(events[6]?.sourcePort, null, "ICMP has no ports, though BASE gives its echo id");
  });

  it("gives undefined for other prefixes, broken lines and lines without addresses; trims a trailing space", () => {
    const udp = JSON.parse(lines[0] as string) as Record<string, unknown>;
    const variant = (change: Record<string, unknown>) => JSON.stringify({ ...udp, ...change });
    assert.equal(parsePolicyLogLine(variant({ "oob.prefix": "someone-else" }), 42), undefined);
    assert.equal(parsePolicyLogLine(variant({ "oob.prefix": undefined }), 42), undefined);
    assert.equal(parsePolicyLogLine(variant({ src_ip: undefined }), 42), undefined, "IP2STR missing from the stack");
    assert.equal(parsePolicyLogLine(variant({ "oob.family": 7 }), 42), undefined);
    assert.equal(parsePolicyLogLine(variant({ "ip.protocol": "udp" }), 42), undefined);
    assert.equal(parsePolicyLogLine("Thu Dec  3 03:27:04 2026 <7> ulogd.c:1 something", 42), undefined);
    assert.equal(parsePolicyLogLine("null", 42), undefined);
    assert.equal(parsePolicyLogLine(`${lines[0]?.slice(0, 80)}`, 42), undefined, "a cut line");
    assert.equal(parsePolicyLogLine(variant({ "oob.prefix": "egw-policy-deny " }), 42)?.verdict, "denied");
  });

  it("falls back to now without the kernel's time, and to null for an impossible port", () => {
    const udp = JSON.parse(lines[0] as string) as Record<string, unknown>;
    const event = parsePolicyLogLine(JSON.stringify({ ...udp, "oob.time.sec": undefined, dest_port: 70_000 }), 42);
    assert.equal(event?.atMs, 42);
    assert.equal(event?.destinationPort, null);
  });
});
