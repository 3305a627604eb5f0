import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EgressPolicy, PolicyFloor, PolicyProtocol, PolicyRule } from "../../../appliance/model.js";
import { parseAddress, parsePrefix } from "../../../appliance/net/cidr.js";
import { policyElementJson } from "../../../appliance/nft/policy-elements.js";
import {
  compilePolicies, floorConflicts, PolicyCompiler, floorCounter, ruleCounter, unmatchedCounter, type CompiledPolicies, type PolicySetName,
  type ResolvedAddress,
} from "../../../appliance/policy/compile.js";
import { seededRandom } from "../../helpers/random.js";

const rule = (destinations: PolicyRule["destinations"], protocol?: PolicyProtocol, ports: PolicyRule["ports"] = []): PolicyRule =>
  ({ description: "", destinations, ports, ...(protocol ? { protocol } : {}) });
const policy = (rules: PolicyRule[], mode: EgressPolicy["mode"] = "enforce", defaultAction: EgressPolicy["defaultAction"] = "deny"): EgressPolicy =>
  ({ mode, defaultAction, rules });

const compile = (rules: PolicyRule[], options: { source?: string; addresses?: Record<string, ResolvedAddress[]>; floors?: PolicyFloor[] } = {}) =>
  compilePolicies({
    policies: [{ cluster: "prod", mapping: "web", sourceCidr: options.source ?? "10.244.1.0/24", policy: policy(rules) }],
    floors: options.floors ?? [],
    clusterSources: new Map([["prod", ["10.244.0.0/16", "fd00:10:244::/48"]]]),
    addressesOf: (name) => options.addresses?.[name] ?? [],
  });

const R = (i: number) => ruleCounter("prod", "web", i);

/** `key → counter (expiry)` lines of one set, sorted, for readable expectations. */
const lines = (compiled: CompiledPolicies, set: PolicySetName) =>
  [...compiled.sets[set]].map(([k, e]) => `${k} → ${e.value}${e.expiresAt === undefined ? "" : ` @${e.expiresAt}`}`).sort();

describe("compilePolicies: allow elements", () => {
  it("carves excepts and keeps port ranges, with the mapping's source as the first part", () => {
    const compiled = compile([rule([{ cidr: "192.0.2.0/24", except: ["192.0.2.128/25"] }], "tcp", [{ port: 443 }, { port: 8000, endPort: 8080 }])]);
    assert.deepEqual(lines(compiled, "policy_allow_v4"), [
      `192.0.2.0/25 . 10.244.1.0/24 . 6 . 443 → ${R(0)}`,
      `192.0.2.0/25 . 10.244.1.0/24 . 6 . 8000-8080 → ${R(0)}`,
    ]);
    assert.deepEqual(lines(compiled, "policy_unmatched_v4"), [`10.244.1.0/24 → ${unmatchedCounter("prod", "web")}`]);
    assert.deepEqual(lines(compiled, "policy_verdict_v4"), ['10.244.1.0/24 → {"jump":{"target":"policy_deny"}}']);
    assert.equal(compiled.elementsPerMapping.get("prod/web"), 4);
  });

  it("an except that leaves no prefix comes out as a range; adjacent ports join", () => {
    const compiled = compile([rule([{ cidr: "192.0.2.0/24", except: ["192.0.2.0/28"] }], "udp", [{ port: 53 }, { port: 54, endPort: 60 }])]);
    assert.deepEqual(lines(compiled, "policy_allow_v4"), [`192.0.2.16-192.0.2.255 . 10.244.1.0/24 . 17 . 53-60 → ${R(0)}`]);
  });

  it("the first rule wins: a later any-protocol rule gets only what the earlier one left", () => {
    const compiled = compile([
      rule([{ cidr: "192.0.2.0/24" }], "tcp", [{ port: 443 }]),
      rule([{ cidr: "192.0.2.0/24" }]),
    ]);
    assert.deepEqual(lines(compiled, "policy_allow_v4"), [
      `192.0.2.0/24 . 10.244.1.0/24 . 0-5 . 0-65535 → ${R(1)}`,
      `192.0.2.0/24 . 10.244.1.0/24 . 6 . 0-442 → ${R(1)}`,
      `192.0.2.0/24 . 10.244.1.0/24 . 6 . 443 → ${R(0)}`,
      `192.0.2.0/24 . 10.244.1.0/24 . 6 . 444-65535 → ${R(1)}`,
      `192.0.2.0/24 . 10.244.1.0/24 . 7-255 . 0-65535 → ${R(1)}`,
    ]);
  });

  it("a rule fully shadowed by an earlier one adds nothing; a wider later rule fills around it", () => {
    const compiled = compile([rule([{ cidr: "192.0.2.0/24" }]), rule([{ cidr: "192.0.2.64/26" }], "tcp", [{ port: 80 }]), rule([{ cidr: "192.0.0.0/16" }])]);
    assert.deepEqual(lines(compiled, "policy_allow_v4"), [
      `192.0.0.0/23 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(2)}`,
      `192.0.2.0/24 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(0)}`,
      `192.0.3.0-192.0.255.255 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(2)}`,
    ]);
  });

  it("ICMP is protocol 1 for IPv4 and 58 for IPv6, any port (th dport reads the checksum)", () => {
    const icmp = rule([{ cidr: "192.0.2.0/24" }, { cidr: "2001:db8::/32" }], "icmp", [{ port: 8 }]);
    assert.deepEqual(lines(compile([icmp]), "policy_allow_v4"), [`192.0.2.0/24 . 10.244.1.0/24 . 1 . 0-65535 → ${R(0)}`]);
    const v6 = compile([icmp], { source: "fd00:10:244:1::/64" });
    assert.deepEqual(lines(v6, "policy_allow_v6"), [`2001:db8::/32 . fd00:10:244:1::/64 . 58 . 0-65535 → ${R(0)}`]);
    assert.equal(v6.sets.policy_allow_v4.size, 0);
    assert.deepEqual(lines(v6, "policy_verdict_v6"), ['fd00:10:244:1::/64 → {"jump":{"target":"policy_deny"}}']);
  });

  it("IPv6 destinations with excepts, single addresses as /128, and a host source as /32", () => {
    const v6 = compile([rule([{ cidr: "2001:db8::/126", except: ["2001:db8::2/127"] }, { cidr: "2001:db8:1::7/128" }], "sctp", [])], { source: "fd00::5/128" });
    assert.deepEqual(lines(v6, "policy_allow_v6"), [
      `2001:db8:1::7/128 . fd00::5/128 . 132 . 0-65535 → ${R(0)}`,
      `2001:db8::/127 . fd00::5/128 . 132 . 0-65535 → ${R(0)}`,
    ]);
    const host = compile([rule([{ cidr: "192.0.2.9/32" }], "tcp", [{ port: 22 }])], { source: "10.244.1.7/32" });
    assert.deepEqual(lines(host, "policy_allow_v4"), [`192.0.2.9/32 . 10.244.1.7/32 . 6 . 22 → ${R(0)}`]);
  });

  it("verdicts by mode and default action, as nft -j lists them", () => {
    const verdict = (mode: EgressPolicy["mode"], defaultAction: EgressPolicy["defaultAction"]) => compilePolicies({
      policies: [{ cluster: "c", mapping: "m", sourceCidr: "10.0.0.0/24", policy: policy([], mode, defaultAction) }],
      floors: [], clusterSources: new Map(), addressesOf: () => [],
    }).sets.policy_verdict_v4.get("10.0.0.0/24")?.value;
    assert.equal(verdict("enforce", "deny"), '{"jump":{"target":"policy_deny"}}');
    assert.equal(verdict("audit", "deny"), '{"jump":{"target":"policy_audit"}}');
    assert.equal(verdict("enforce", "allow"), '{"accept":null}');
    assert.equal(verdict("audit", "allow"), '{"accept":null}');
  });

  it("names counters from a hash of cluster/mapping and registers every rule's, used or not", () => {
    const compiled = compile([rule([{ cidr: "192.0.2.0/24" }]), rule([{ cidr: "192.0.2.0/25" }])]);
    assert.match(R(0), /^pr_[0-9a-f]{16}_0$/);
    assert.deepEqual(compiled.counters.get(R(1)), { kind: "rule", cluster: "prod", mapping: "web", rule: 1 });
    assert.deepEqual(compiled.counters.get(unmatchedCounter("prod", "web")), { kind: "unmatched", cluster: "prod", mapping: "web", rule: null });
    assert.notEqual(ruleCounter("prod", "web", 0), ruleCounter("prod", "api", 0));
    for (const name of compiled.counters.keys()) assert.match(name, /^[a-zA-Z0-9_]+$/);
  });
});

describe("compilePolicies: DNS-derived coverage", () => {
  it("carries the expiry, joins neighbours of one rule at the earliest expiry, and keeps the other family out", () => {
    const compiled = compile([rule([{ name: "api.example.com" }], "tcp", [{ port: 443 }])], {
      addresses: { "api.example.com": [{ address: "198.51.100.7", expiresAt: 2000 }, { address: "198.51.100.8", expiresAt: 1500 }, { address: "2001:db8::1", expiresAt: 9 }] },
    });
    assert.deepEqual(lines(compiled, "policy_allow_v4"), [`198.51.100.7-198.51.100.8 . 10.244.1.0/24 . 6 . 443 → ${R(0)} @1500`]);
    assert.equal(compiled.sets.policy_allow_v6.size, 0);
  });

  it("an address an earlier rule covers permanently adds nothing", () => {
    const compiled = compile([rule([{ cidr: "198.51.100.0/24" }]), rule([{ name: "n" }])], { addresses: { n: [{ address: "198.51.100.7", expiresAt: 5 }] } });
    assert.deepEqual(lines(compiled, "policy_allow_v4"), [`198.51.100.0/24 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(0)}`]);
  });

  it("an earlier rule's DNS address splits a later permanent range, is never joined with it, and keeps no timeout where that range allows it too", () => {
    const compiled = compile([rule([{ name: "n" }]), rule([{ cidr: "198.51.100.0/30" }])], { addresses: { n: [{ address: "198.51.100.1", expiresAt: 77 }] } });
    assert.deepEqual(lines(compiled, "policy_allow_v4"), [
      `198.51.100.0/32 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(1)}`,
      `198.51.100.1/32 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(0)}`,
      `198.51.100.2/31 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(1)}`,
    ]);
  });

  it("a DNS address no later rule allows keeps its timeout", () => {
    const compiled = compile([rule([{ name: "n" }], "tcp", [{ port: 443 }]), rule([{ cidr: "198.51.100.0/24" }], "udp", [])], { addresses: { n: [{ address: "198.51.100.9", expiresAt: 5 }] } });
    assert.ok(lines(compiled, "policy_allow_v4").includes(`198.51.100.9/32 . 10.244.1.0/24 . 6 . 443 → ${R(0)} @5`));
  });

  it("a DNS address of the same rule next to its prefix stays a separate element", () => {
    const compiled = compile([rule([{ cidr: "198.51.100.0/31" }, { name: "n" }])], { addresses: { n: [{ address: "198.51.100.2", expiresAt: 5 }, { address: "198.51.100.1", expiresAt: 6 }] } });
    assert.deepEqual(lines(compiled, "policy_allow_v4"), [
      `198.51.100.0/31 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(0)}`,
      `198.51.100.2/32 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(0)} @5`,
    ]);
  });

  it("a DNS rule narrower in ports: the later permanent rule keeps the rest of that address", () => {
    const compiled = compile([rule([{ name: "n" }], "tcp", [{ port: 443 }]), rule([{ cidr: "198.51.100.0/24" }], "tcp", [])], { addresses: { n: [{ address: "198.51.100.9", expiresAt: 5 }] } });
    const allow = lines(compiled, "policy_allow_v4");
    assert.ok(allow.includes(`198.51.100.9/32 . 10.244.1.0/24 . 6 . 443 → ${R(0)}`), `the later prefix rule allows tcp/443 too: no timeout\n${allow.join("\n")}`);
    assert.ok(allow.includes(`198.51.100.9/32 . 10.244.1.0/24 . 6 . 0-442 → ${R(1)}`), allow.join("\n"));
    assert.ok(allow.includes(`198.51.100.0-198.51.100.8 . 10.244.1.0/24 . 6 . 0-65535 → ${R(1)}`), allow.join("\n"));
  });
});

describe("compilePolicies: floors", () => {
  const floors: PolicyFloor[] = [
    { cluster: null, rules: [{ description: "metadata", destinations: [{ cidr: "169.254.169.254/32" }], ports: [] }, { description: "smtp", destinations: [{ cidr: "0.0.0.0/0" }, { cidr: "::/0" }], protocol: "tcp", ports: [{ port: 25 }] }] },
    { cluster: "prod", rules: [{ description: "db", destinations: [{ cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] }], protocol: "tcp", ports: [{ port: 5432 }] }] },
  ];

  it("the global floor has no source part; the first floor rule wins its pieces", () => {
    const compiled = compile([], { floors });
    assert.deepEqual(lines(compiled, "floor_v4"), [
      `0.0.0.0-169.254.169.253 . 6 . 25 → ${floorCounter(null, 1)}`,
      `169.254.169.254/32 . 0-255 . 0-65535 → fg_0`,
      `169.254.169.255-255.255.255.255 . 6 . 25 → fg_1`,
    ]);
    assert.deepEqual(lines(compiled, "floor_v6"), ["::/0 . 6 . 25 → fg_1"]);
  });

  it("a cluster's floor gets each of the cluster's source ranges of the family as the source part", () => {
    const compiled = compile([], { floors });
    const fc = floorCounter("prod", 0);
    assert.match(fc, /^fc_[0-9a-f]{16}_0$/);
    assert.deepEqual(lines(compiled, "cluster_floor_v4"), [
      `10.0.0.0/16 . 10.244.0.0/16 . 6 . 5432 → ${fc}`,
      `10.2.0.0-10.255.255.255 . 10.244.0.0/16 . 6 . 5432 → ${fc}`,
    ]);
    assert.equal(compiled.sets.cluster_floor_v6.size, 0);
    assert.deepEqual(compiled.counters.get(fc), { kind: "floor", cluster: "prod", mapping: null, rule: 0 });
  });

  it("floorConflicts reports where a policy's prefix meets a floor with protocols and ports in common", () => {
    const p = policy([
      rule([{ cidr: "10.0.0.0/16" }], "tcp", [{ port: 5000, endPort: 6000 }]),
      rule([{ cidr: "10.1.0.0/16" }, { cidr: "10.2.0.0/24" }, { name: "db.example.com" }], "tcp", []),
      rule([{ cidr: "10.3.0.0/16" }], "udp", []),
      rule([{ cidr: "169.254.0.0/16", except: ["169.254.169.254/32"] }]),
    ]);
    assert.deepEqual(floorConflicts(p, 4, floors), [
      { rule: 0, destination: 0, floorCluster: "prod", floorRule: 0, overlap: "10.0.0.0/16" },
      { rule: 1, destination: 0, floorCluster: null, floorRule: 1, overlap: "10.1.0.0/16" },
      { rule: 1, destination: 1, floorCluster: null, floorRule: 1, overlap: "10.2.0.0/24" },
      { rule: 1, destination: 1, floorCluster: "prod", floorRule: 0, overlap: "10.2.0.0/24" },
      { rule: 3, destination: 0, floorCluster: null, floorRule: 1, overlap: "169.254.0.0-169.254.169.253, 169.254.169.255-169.254.255.255" },
    ]);
    assert.deepEqual(floorConflicts(p, 6, floors), []);
  });
});

describe("compilePolicies: caching", () => {
  it("an unchanged input gives the same elements; a changed DNS answer changes them", () => {
    let answer: ResolvedAddress[] = [{ address: "198.51.100.7", expiresAt: 10 }];
    const input = {
      policies: [{ cluster: "prod", mapping: "web", sourceCidr: "10.244.1.0/24", policy: policy([rule([{ name: "n" }])]) }],
      floors: [], clusterSources: new Map(), addressesOf: () => answer,
    };
    const first = lines(compilePolicies(input), "policy_allow_v4");
    assert.deepEqual(lines(compilePolicies(input), "policy_allow_v4"), first);
    answer = [{ address: "198.51.100.8", expiresAt: 20 }];
    assert.deepEqual(lines(compilePolicies(input), "policy_allow_v4"), [`198.51.100.8/32 . 10.244.1.0/24 . 0-255 . 0-65535 → ${R(0)} @20`]);
  });
});

describe("policyElementJson", () => {
  it("spells prefixes, ranges and numbers, values and verdicts, and a timeout for DNS-derived elements", () => {
    assert.deepEqual(policyElementJson("policy_allow_v4", "10.0.0.0/24 . 192.0.2.1-192.0.2.9 . 6 . 400-500", { value: "r1" }, 0, 0), [
      { concat: [{ prefix: { addr: "10.0.0.0", len: 24 } }, { range: ["192.0.2.1", "192.0.2.9"] }, 6, { range: [400, 500] }] }, "r1",
    ]);
    assert.deepEqual(policyElementJson("floor_v6", "2001:db8::/32 . 0-255 . 0-65535", { value: "fg_0" }, 0, 0), [
      { concat: [{ prefix: { addr: "2001:db8::", len: 32 } }, { range: [0, 255] }, { range: [0, 65535] }] }, "fg_0",
    ]);
    assert.deepEqual(policyElementJson("policy_verdict_v6", "fd00::1-fd00::3", { value: '{"accept":null}' }, 0, 0), [{ range: ["fd00::1", "fd00::3"] }, { accept: null }]);
    const dns = policyElementJson("policy_allow_v4", "10.0.0.0/24 . 192.0.2.1/32 . 6 . 443", { value: "r", expiresAt: 10_500 }, 1_000, 30_000) as [{ elem: { timeout: number } }, string];
    assert.equal(dns[0].elem.timeout, 40);
    const late = policyElementJson("policy_allow_v4", "10.0.0.0/24 . 192.0.2.1/32 . 6 . 443", { value: "r", expiresAt: 0 }, 100_000, 1_000) as [{ elem: { timeout: number } }, string];
    assert.equal(late[0].elem.timeout, 1);
  });
});


interface Box { lo: bigint[]; hi: bigint[]; value: string }

function keyBox(key: string, value: string): Box {
  const lo: bigint[] = [];
  const hi: bigint[] = [];
  key.split(" . ").forEach((part, i) => {
    if (i < 2 && part.includes("/")) {
      const p = parsePrefix(part, "key");
      lo.push(p.start);
      hi.push(p.end);
    } else if (i < 2) {
      const [a, b] = part.split("-").map((x) => parseAddress(x, "key").value);
      lo.push(a as bigint);
      hi.push(b as bigint);
    } else {
      const [a, b = a] = part.split("-").map(BigInt);
      lo.push(a as bigint);
      hi.push(b as bigint);
    }
  });
  return { lo, hi, value };
}

const disjoint = (a: Box, b: Box) => a.lo.some((_, d) => (a.hi[d] as bigint) < (b.lo[d] as bigint) || (b.hi[d] as bigint) < (a.lo[d] as bigint));

describe("compilePolicies: randomized against a brute-force first-rule evaluation", () => {
  it("elements are pairwise disjoint and each point is counted on the first rule that covers it", () => {
    const rand = seededRandom(20261202);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
    const base = parsePrefix("10.20.0.0/16", "t").start;
    const addressIn = (offset: number) => `10.20.${offset >> 8}.${offset & 255}`;
    const prefixIn = (length: number, within?: { start: number; length: number }) => {
      const size = 1 << (32 - length);
      const start = within ? within.start + Math.floor(rand() * (1 << (32 - within.length)) / size) * size : Math.floor(rand() * 65536 / size) * size;
      return { start, length, cidr: `${addressIn(start)}/${length}` };
    };
    for (let round = 0; round < 40; round++) {
      const names: Record<string, ResolvedAddress[]> = {};
      const rules: PolicyRule[] = Array.from({ length: 1 + Math.floor(rand() * 6) }, (_, r) => {
        const destinations: PolicyRule["destinations"] = Array.from({ length: 1 + Math.floor(rand() * 2) }, () => {
          const outer = prefixIn(20 + Math.floor(rand() * 8));
          const except = Array.from({ length: Math.floor(rand() * 3) }, () => prefixIn(outer.length + 1 + Math.floor(rand() * 4), outer).cidr);
          return { cidr: outer.cidr, except };
        });
        if (rand() < 0.5) {
          const name = `n${round}-${r}.example`;
          names[name] = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => ({ address: addressIn(Math.floor(rand() * 65536)), expiresAt: 1000 + Math.floor(rand() * 100) }));
          destinations.push({ name });
        }
        const protocol = pick([undefined, "tcp", "udp", "sctp", "icmp"] as const);
        const ports = Array.from({ length: Math.floor(rand() * 3) }, () => {
          const port = Math.floor(rand() * 1000);
          return rand() < 0.5 ? { port } : { port, endPort: port + Math.floor(rand() * 200) };
        });
        return rule(destinations, protocol, ports);
      });
      const compiled = compile(rules, { addresses: names });
      const boxes = [...compiled.sets.policy_allow_v4].map(([k, e]) => keyBox(k, e.value));
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) assert.ok(disjoint(boxes[i] as Box, boxes[j] as Box), `round ${round}: overlapping elements`);
      }
      const source = parsePrefix("10.244.1.0/24", "t").start;
      for (let n = 0; n < 400; n++) {
        const offset = rand() < 0.5 ? Math.floor(rand() * 65536) : Number(parseAddress((pick(Object.values(names).flat()) ?? { address: "10.20.0.1" }).address, "t").value - base);
        const address = base + BigInt(offset);
        const protocol = pick([0, 1, 6, 17, 47, 58, 132, 255]);
        const port = pick([0, Math.floor(rand() * 1300), 65535]);
        const expected = rules.findIndex((candidate) => {
          const inDestination = candidate.destinations.some((d) => {
            if (d.name) return (names[d.name] ?? []).some((a) => parseAddress(a.address, "t").value === address);
            const p = parsePrefix(d.cidr as string, "t");
            const within = (q: { start: bigint; end: bigint }) => q.start <= address && address <= q.end;
            return within(p) && !(d.except ?? []).some((e) => within(parsePrefix(e, "t")));
          });
          const protocolNumber = candidate.protocol === undefined ? protocol : { tcp: 6, udp: 17, sctp: 132, icmp: 1 }[candidate.protocol];
          const portMatches = candidate.protocol === undefined || candidate.protocol === "icmp" || candidate.ports.length === 0
            || candidate.ports.some((p) => p.port <= port && port <= (p.endPort ?? p.port));
          return inDestination && protocolNumber === protocol && portMatches;
        });
        const point = [address, source, BigInt(protocol), BigInt(port)];
        const hits = boxes.filter((b) => point.every((x, d) => (b.lo[d] as bigint) <= x && x <= (b.hi[d] as bigint)));
        assert.ok(hits.length <= 1);
        assert.equal(hits[0]?.value, expected < 0 ? undefined : R(expected), `round ${round}: ${addressIn(offset)} ${protocol}/${port}`);
      }
    }
  });
});

describe("PolicyCompiler.elementsOf: one mapping's policy elements, for the reconciler's changelog shortcut", () => {
  const input = (port: number): { cluster: string; mapping: string; sourceCidr: string; policy: EgressPolicy } => ({
    cluster: "prod", mapping: "web", sourceCidr: "10.244.1.0/24",
    policy: { mode: "enforce", defaultAction: "deny", rules: [{ description: "", destinations: [{ cidr: "198.51.100.0/24" }], protocol: "tcp", ports: [{ port }] }] },
  });

  it("gives what compile() puts into the policy maps for that mapping, and nothing for a policy with DNS names", () => {
    const compiler = new PolicyCompiler();
    const compiled = compiler.compile({ policies: [input(443)], floors: [], clusterSources: new Map(), addressesOf: () => [] });
    const elements = compiler.elementsOf(input(443));
    const fromCompile = Object.entries(compiled.sets).flatMap(([set, map]) => [...map].map(([key, e]) => [set, key, e.value]));
    assert.deepEqual(elements?.elements.map((e) => e.join(" ")).sort(), fromCompile.map((e) => e.join(" ")).sort());
    assert.deepEqual(elements?.counters.sort(), [...compiled.counters.keys()].sort());
    const named = input(443);
    named.policy.rules[0] = { ...(named.policy.rules[0] as PolicyRule), destinations: [{ name: "api.example.com" }] };
    assert.equal(compiler.elementsOf(named), undefined);
  });

  it("lets old versions age out when each shortcut counts as a call (the cache stays small)", () => {
    const compiler = new PolicyCompiler(8);
    for (let port = 1; port <= 200; port++) {
      compiler.nextCall();
      compiler.elementsOf(input(port));
    }
    assert.ok(compiler.rememberedPlanes <= 8, `${compiler.rememberedPlanes} planes remembered`);
  });
});
