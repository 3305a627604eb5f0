import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { main } from "../../../appliance/cli/main.js";
import { percent } from "../../../appliance/cli/commands/ports.js";
import { captureIo, fakeApi, type FakeApi } from "./fake-api.js";

const BUSY = {
  egressAddress: "203.0.113.10", available: 64_512, destinations: 3, maxUtilization: 52_400 / 64_512,
  busiest: [
    { destinationAddress: "198.51.100.7", destinationPort: 443, protocol: "tcp", inUse: 52_400, available: 64_512, utilization: 52_400 / 64_512 },
    { destinationAddress: "2001:db8:1::53", destinationPort: 53, protocol: "udp", inUse: 12, available: 64_512, utilization: 12 / 64_512 },
    { destinationAddress: "198.51.100.9", destinationPort: 0, protocol: "icmp", inUse: 1, available: 65_536, utilization: 1 / 65_536 },
  ],
};
const QUIET = { egressAddress: "2001:db8::10", available: 64_512, destinations: 0, maxUtilization: 0, busiest: [] };

describe("egw ports", () => {
  let api: FakeApi;
  before(async () => {
    api = await fakeApi({
      "GET /v1/egress-ips/203.0.113.10/ports": () => ({ status: 200, body: BUSY }),
      "GET /v1/egress-ips/203.0.113.10/ports?top=2": () => ({ status: 200, body: { ...BUSY, busiest: BUSY.busiest.slice(0, 2) } }),
      "GET /v1/egress-ips/203.0.113.20/ports": () => ({ status: 403, body: {
        type: "https://egw.dev/problems/forbidden", title: "This token may not do that", status: 403, code: "forbidden",
        detail: "this token belongs to cluster alpha, which may not use egress IP 203.0.113.20",
      } }),
      "GET /v1/ports": () => ({ status: 200, body: { egressIps: [BUSY, QUIET] } }),
    });
  });
  after(() => api.close());

  const run = async (...args: string[]) => {
    const io = captureIo();
    const code = await main([...args, ...api.flags], io);
    return { code, out: io.out(), err: io.err() };
  };

  it("prints one egress IP's busiest destinations with in use, available, headroom and utilization", async () => {
    const { code, out } = await run("ports", "203.0.113.10");
    assert.equal(code, 0);
    assert.equal(out, [
      "egress IP 203.0.113.10: 3 destinations, busiest at 81.2 %",
      "DESTINATION          PROTOCOL  IN USE  AVAILABLE  HEADROOM  UTILIZATION",
      "198.51.100.7:443     tcp       52400   64512      12112     81.2 %",
      "[2001:db8:1::53]:53  udp       12      64512      64500     <0.1 %",
      "198.51.100.9         icmp      1       65536      65535     <0.1 %",
      "",
    ].join("\n"));
  });

  it("passes --top on, and prints the API's document with --json", async () => {
    const { code, out } = await run("ports", "203.0.113.10", "--top", "2", "--json");
    assert.equal(code, 0);
    assert.equal(JSON.parse(out).busiest.length, 2);
    assert.equal(api.requests.at(-1)?.url, "/v1/egress-ips/203.0.113.10/ports?top=2");
  });

  it("without an address asks once for every egress IP the token may use", async () => {
    const { code, out } = await run("ports");
    assert.equal(code, 0);
    assert.equal(api.requests.at(-1)?.url, "/v1/ports");
    assert.match(out, /^egress IP 203\.0\.113\.10: 3 destinations, busiest at 81\.2 %$/m);
    assert.match(out, /^egress IP 2001:db8::10: no open connections$/m);
  });

  it("reports the API's refusal, and refuses a bad --top or a second address before calling", async () => {
    const refused = await run("ports", "203.0.113.20");
    assert.equal(refused.code, 2);
    assert.match(refused.err, /may not use egress IP 203\.0\.113\.20/);
    const asked = api.requests.length;
    for (const args of [["--top", "0"], ["--top", "ten"], ["--top", "101"], ["203.0.113.10", "203.0.113.11"]]) {
      const { code, err } = await run("ports", ...args);
      assert.equal(code, 2, args.join(" "));
      assert.match(err, /\n\nusage: egw ports/);
    }
    assert.equal(api.requests.length, asked, "no request for a usage error");
  });

  it("shows a small share as more than nothing", () => {
    assert.equal(percent(0), "0.0 %");
    assert.equal(percent(0.0005), "<0.1 %");
    assert.equal(percent(0.95), "95.0 %");
  });
});
