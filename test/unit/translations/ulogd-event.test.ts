import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";
import { parseUlogdLine } from "../../../appliance/translations/ulogd-event.js";

// Captured from ulogd 2.0.8 in a namespace gateway (SNAT 10.128.0.0/24 → 203.0.113.10, fd00:10::/64 → 2001:db8::10):
// TCP and UDP over IPv4, TCP over IPv6, ICMP echo, ICMPv6 echo, and UDP to the gateway itself (not translated).
const lines = readFileSync(join(PACKAGE_ROOT, "test/unit/fixtures/ulogd/capture.jsonl"), "utf8").split("\n").filter(Boolean);
const parsed = lines.map((line) => parseUlogdLine(line, 42));
const translatedNew = lines.find((line) => line.includes('"ct.event": 1,') && line.includes('"reply.ip.daddr.str": "203.0.113.10"')) as string;
const events = parsed.flatMap((p) => (p.kind === "event" ? [p.event] : []));

describe("ulogd spool lines → conntrack events", () => {
  it("reads a TCP NEW over IPv4: the pod's tuple, the destination, and the egress address and port from the reply", () => {
    const tcp = events.find((e) => e.kind === "new" && e.protocol === "tcp" && e.family === 4);
    assert.deepEqual(tcp, {
      kind: "new", conntrackId: tcp?.conntrackId, protocol: "tcp", protocolNumber: 6, family: 4,
      podAddress: "10.128.0.5", podPort: 40013, destinationAddress: "203.0.113.200", destinationPort: 8080,
      egressAddress: "203.0.113.10", egressPort: 40013, startMs: tcp?.startMs,
    });
    assert.ok((tcp?.startMs ?? 0) > 1_700_000_000_000, "start from the kernel's flow.start, in ms");
  });

  it("reads a DESTROY with its end and traffic counters, for the same connection id as its NEW", () => {
    const opened = events.find((e) => e.kind === "new" && e.protocol === "udp" && e.destinationPort === 5353);
    const ended = events.find((e) => e.kind === "destroy" && e.conntrackId === opened?.conntrackId);
    assert.ok(opened && ended);
    assert.equal(ended.egressPort, opened.egressPort);
    assert.ok((ended.endMs ?? 0) >= ended.startMs);
    assert.deepEqual(ended.counters, { originalPackets: 1, originalBytes: 29, replyPackets: 1, replyBytes: 29 });
  });

  it("reads IPv6 (family 6) and ICMP/ICMPv6 with ports 0 (ulogd gives no echo id)", () => {
    assert.ok(events.some((e) => e.family === 6 && e.protocol === "tcp" && e.egressAddress === "2001:db8::10" && e.podAddress === "fd00:10::5"));
    const icmp = events.filter((e) => e.protocol === "icmp" || e.protocol === "icmpv6");
    assert.deepEqual(new Set(icmp.map((e) => e.protocol)), new Set(["icmp", "icmpv6"]));
    for (const e of icmp) assert.deepEqual([e.podPort, e.destinationPort, e.egressPort], [0, 0, 0]);
  });

  it("skips a connection the kernel did not translate (its reply goes to the pod's own address)", () => {
    const toGateway = lines.map((line, i) => [line, parsed[i]] as const).filter(([line]) => line.includes('"dest_ip": "10.128.0.1"'));
    assert.ok(toGateway.length > 0);
    for (const [, result] of toGateway) assert.deepEqual(result, { kind: "skipped" });
  });

  it("skips event kinds other than NEW and DESTROY, and reports what is not ulogd's as malformed", () => {
    const update = translatedNew.replace('"ct.event": 1', '"ct.event": 2');
    assert.deepEqual(parseUlogdLine(update, 0), { kind: "skipped" });
    for (const bad of ['{"timestamp": "2026-12-02T', "[]", "null", '{"ct.event": 1}', translatedNew.replace('"oob.family": 2', '"oob.family": 7'), translatedNew.replace(/"ct.id": \d+/, '"ct.id": "x"')]) {
      assert.equal(parseUlogdLine(bad, 0).kind, "malformed", bad);
    }
  });

  it("uses the reading time as the start when the kernel gives no timestamp", () => {
    const untimed = translatedNew.replace(/"flow\.start\.(u?)sec": \d+, /g, "");
    const result = parseUlogdLine(untimed, 1234);
    assert.equal(result.kind === "event" ? result.event.startMs : undefined, 1234);
  });
});
