import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseTranslatedConnections, translationKey } from "../../appliance/kernel/conntrack-table.js";

// Captured from `conntrack -L -o extended --src-nat` in a namespace gateway (conntrack 1.4.7, kernel 6.18); the
// IPv6 and ICMP lines are in the same format.
const LISTING = `ipv4     2 udp      17 29 src=10.128.0.5 dst=203.0.113.200 sport=26178 dport=58793 [UNREPLIED] src=203.0.113.200 dst=203.0.113.10 sport=58793 dport=26178 mark=0 use=1
ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.1.5 dst=203.0.113.200 sport=40000 dport=8081 src=203.0.113.200 dst=203.0.113.10 sport=8081 dport=40123 [ASSURED] mark=0 use=1
ipv6     10 tcp      6 119 TIME_WAIT src=fd00:10:244:1::5 dst=2001:db8::200 sport=51000 dport=443 src=2001:db8::200 dst=2001:db8::10 sport=443 dport=61000 [ASSURED] mark=0 use=1
ipv4     2 icmp     1 29 src=10.244.1.5 dst=203.0.113.200 type=8 code=0 id=77 src=203.0.113.200 dst=203.0.113.10 type=0 code=0 id=1030 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.
`;

describe("the kernel's table of translations (conntrack -L)", () => {
  it("reads each entry's pod, destination and egress sides, the keys equal to the log's records'", () => {
    const connections = parseTranslatedConnections(LISTING);
    assert.deepEqual(connections.map(translationKey), [
      "udp|10.128.0.5|26178|203.0.113.200|58793|203.0.113.10|26178",
      "tcp|10.244.1.5|40000|203.0.113.200|8081|203.0.113.10|40123",
      "tcp|fd00:10:244:1::5|51000|2001:db8::200|443|2001:db8::10|61000",
      "icmp|10.244.1.5|0|203.0.113.200|0|203.0.113.10|0",
    ]);
    assert.equal(translationKey({ protocol: "icmp", podAddress: "10.244.1.5", podPort: 77, destinationAddress: "203.0.113.200", destinationPort: 9, egressAddress: "203.0.113.10", egressPort: 1 }),
      "icmp|10.244.1.5|0|203.0.113.200|0|203.0.113.10|0", "ICMP has no ports in the log");
  });

  it("refuses a line it cannot read rather than guess", () => {
    assert.throws(() => parseTranslatedConnections("ipv4 2 udp 17 29 src=10.0.0.1 dst=10.0.0.2\n"), /two tuples/);
  });
});
