import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatTrace, splitEndpoint, type TraceAnswer } from "../../../appliance/cli/commands/trace.js";
import { UsageError } from "../../../appliance/terminal/io.js";

describe("egw trace", () => {
  it("reads ADDRESS, ADDRESS:PORT and [IPv6]:PORT, and refuses an ambiguous IPv6 form", () => {
    assert.deepEqual(splitEndpoint("203.0.113.10:40123", "X"), { address: "203.0.113.10", port: "40123" });
    assert.deepEqual(splitEndpoint("203.0.113.10", "X"), { address: "203.0.113.10" });
    assert.deepEqual(splitEndpoint("[2001:db8::10]:40123", "X"), { address: "2001:db8::10", port: "40123" });
    assert.deepEqual(splitEndpoint("2001:db8::10", "X"), { address: "2001:db8::10" });
    assert.throws(() => splitEndpoint("2001:db8::10]:1", "X"), UsageError);
  });

  it("prints each record, marks a gateway restart, and warns of gaps and gateways it could not ask", () => {
    const answer: TraceAnswer = {
      translations: [{
        gateway: "gw-a", cluster: "alpha", mapping: "erp", protocol: "tcp",
        pod: { address: "10.244.1.5", port: 40000 }, destination: { address: "2001:db8:1::7", port: 443 }, egress: { address: "203.0.113.10", port: 40123 },
        start: "2026-12-02T12:03:50.000Z", end: "2026-12-02T12:04:00.000Z", endReason: "gateway-restarted",
      }],
      gaps: [{ gateway: "gw-b", from: "2026-12-02T12:00:00.000Z", to: null, reason: "disk-full" }],
      unanswered: [{ gateway: "gw-c", reason: "timeout" }],
    };
    const text = formatTrace(answer);
    assert.match(text, /alpha\s+erp\s+tcp\s+10\.244\.1\.5:40000\s+\[2001:db8:1::7\]:443\s+203\.0\.113\.10:40123/);
    assert.match(text, /gw-a restarted before the kernel reported the end/);
    assert.match(text, /log of gw-b was not recording from 2026-12-02T12:00:00.000Z to now \(disk-full\)/);
    assert.match(text, /gateway gw-c could not be asked \(timeout\)/);
    assert.equal(formatTrace({ translations: [], gaps: [], unanswered: [] }), "no translation matches\n");
  });
});
