import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { uniqueSuffix, type Netns } from "../../lab/netns.js";
import { namespaceFactory } from "../../lab/topology.js";
import type { EgressPolicy, PolicyFloor, PolicyRule } from "../../appliance/model.js";
import { elementKey, type SetType } from "../../appliance/nft/element-key.js";
import { POLICY_SET_SPECS, policyElementJson } from "../../appliance/nft/policy-elements.js";
import { ExecaRunner } from "../../appliance/system/runner.js";
import { compilePolicies, POLICY_SET_NAMES, type CompiledPolicies, type MappingPolicyInput, type ResolvedAddress } from "../../appliance/policy/compile.js";
import { seededRandom } from "../helpers/random.js";

const isRoot = process.getuid?.() === 0;
const TABLE = "policy_plane";
const NOW = 1_000_000;

const rule = (destinations: PolicyRule["destinations"], protocol?: PolicyRule["protocol"], ports: PolicyRule["ports"] = []): PolicyRule =>
  ({ description: "", destinations, ports, ...(protocol ? { protocol } : {}) });


const ADDRESSES: Record<string, ResolvedAddress[]> = {
  "api.example.com": [{ address: "198.51.100.7", expiresAt: NOW + 60_000 }, { address: "198.51.100.8", expiresAt: NOW + 30_000 }, { address: "2001:db8:5::7", expiresAt: NOW + 60_000 }],
  "inside.example.com": [{ address: "198.51.100.77", expiresAt: NOW + 60_000 }],
};

function plane(): CompiledPolicies {
  const mappings: MappingPolicyInput[] = [
    { cluster: "prod", mapping: "web", sourceCidr: "10.244.1.0/24", policy: { mode: "enforce", defaultAction: "deny", rules: [
      rule([{ name: "inside.example.com" }], "tcp", [{ port: 8443 }]),
      rule([{ cidr: "192.0.2.0/24", except: ["192.0.2.128/26", "192.0.2.7/32"] }], "tcp", [{ port: 443 }, { port: 8000, endPort: 8080 }]),
      rule([{ cidr: "192.0.2.0/23" }, { name: "api.example.com" }]),
      rule([{ cidr: "0.0.0.0/0" }], "icmp"),
    ] } },
    { cluster: "prod", mapping: "audit", sourceCidr: "10.244.2.7/32", policy: { mode: "audit", defaultAction: "deny", rules: [rule([{ cidr: "203.0.113.0/24" }], "udp", [{ port: 53 }])] } },
    { cluster: "prod", mapping: "open", sourceCidr: "10.244.3.0/26", policy: { mode: "enforce", defaultAction: "allow", rules: [] } },
    { cluster: "prod", mapping: "v6", sourceCidr: "fd00:10:244:1::/64", policy: { mode: "enforce", defaultAction: "deny", rules: [
      rule([{ cidr: "2001:db8::/32", except: ["2001:db8:1::/48"] }, { name: "api.example.com" }], "sctp", [{ port: 9000, endPort: 9100 }]),
      rule([{ cidr: "::/0" }], "icmp"),
      rule([{ cidr: "2001:db8::/30" }]),
    ] } },
  ];
  // Random policies on more sources: several overlapping rules each, so the kernel sees many neighbouring pieces.
  const rand = seededRandom(7);
  for (let m = 0; m < 12; m++) {
    const rules = Array.from({ length: 2 + Math.floor(rand() * 4) }, () => {
      const length = 20 + Math.floor(rand() * 8);
      const start = Math.floor((rand() * 65536) / 2 ** (32 - length)) * 2 ** (32 - length);
      const cidr = `10.20.${start >> 8}.${start & 255}/${length}`;
      const protocol = (["tcp", "udp", undefined, "icmp"] as const)[Math.floor(rand() * 4)];
      const port = Math.floor(rand() * 1000);
      return rule([{ cidr }], protocol, rand() < 0.5 ? [] : [{ port, endPort: port + Math.floor(rand() * 50) }]);
    });
    const policy: EgressPolicy = { mode: "enforce", defaultAction: "deny", rules };
    mappings.push({ cluster: "batch", mapping: `m${m}`, sourceCidr: `10.245.${m}.0/24`, policy });
  }
  const floors: PolicyFloor[] = [
    { cluster: null, rules: [
      { description: "metadata", destinations: [{ cidr: "169.254.169.254/32" }, { cidr: "fd00:ec2::254/128" }], ports: [] },
      { description: "smtp", destinations: [{ cidr: "0.0.0.0/0" }, { cidr: "::/0" }], protocol: "tcp", ports: [{ port: 25 }] },
    ] },
    { cluster: "prod", rules: [{ description: "db", destinations: [{ cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] }, { cidr: "fd00:db::/32" }], protocol: "tcp", ports: [{ port: 5432 }] }] },
  ];
  return compilePolicies({
    policies: mappings, floors,
    clusterSources: new Map([["prod", ["10.244.0.0/16", "fd00:10:244::/48"]], ["batch", ["10.245.0.0/16"]]]),
    addressesOf: (name) => ADDRESSES[name] ?? [],
  });
}

/** One batch that creates the table, the chains the verdicts jump to, the counters, the maps and their elements. */
function load(compiled: CompiledPolicies): unknown {
  const table = { family: "inet", table: TABLE };
  // nft 1.0.6 refuses (ENOENT) a verdict element whose chain is added after its map in the same batch: chains first.
  const commands: unknown[] = [
    { add: { table: { family: "inet", name: TABLE } } },
    { add: { chain: { ...table, name: "policy_deny" } } },
    { add: { chain: { ...table, name: "policy_audit" } } },
    ...[...compiled.counters.keys()].map((name) => ({ add: { counter: { ...table, name } } })),
  ];
  for (const set of POLICY_SET_NAMES) {
    const spec = POLICY_SET_SPECS[set];
    commands.push({ add: { map: { ...table, name: set, type: spec.type, map: spec.map, flags: spec.flags } } });
    const elem = [...compiled.sets[set]].map(([key, element]) => policyElementJson(set, key, element, NOW, 30_000));
    if (elem.length > 0) commands.push({ add: { element: { ...table, name: set, elem } } });
  }
  return { nftables: [{ metainfo: { json_schema_version: 1 } }, ...commands] };
}

describe("policy elements in the kernel", { skip: isRoot ? false : "needs root for a network namespace" }, () => {
  const factory = namespaceFactory(`egpe-${uniqueSuffix()}`);
  let gateway: Netns;
  /** `nft -j -f FILE` in the namespace, through the appliance's runner (nft 1.0 cannot read a pipe). */
  const loadBatch = (payload: unknown) => new ExecaRunner().run("ip", ["netns", "exec", gateway.name, "nft", "-j", "-f"], { inputFile: JSON.stringify(payload), okExitCodes: [0, 1] });

  before(async () => {
    gateway = await factory.make("gw");
  });

  after(async () => {
    await factory.destroy();
    const { stdout } = await execa("ip", ["netns", "list"]);
    assert.ok(!stdout.split("\n").some((line) => line.startsWith(gateway.name)), `namespace ${gateway.name} was removed`);
  });

  it("a compiled plane loads (no overlap refused) and lists back as the same keys and values", async () => {
    const compiled = plane();
    const loaded = await loadBatch(load(compiled));
    assert.equal(loaded.exitCode, 0, loaded.stderr);
    const listing = JSON.parse(String((await gateway.exec("nft", ["-j", "list", "table", "inet", TABLE])).stdout)) as { nftables: Record<string, Record<string, unknown>>[] };
    let timed = 0;
    for (const set of POLICY_SET_NAMES) {
      const map = listing.nftables.map((i) => i["map"]).find((m) => m?.["name"] === set);
      assert.ok(map, `map ${set} listed`);
      const interval = (map["flags"] as string[]).includes("interval");
      const read = new Map<string, string>();
      for (const [key, value] of (map["elem"] as [unknown, unknown][] | undefined) ?? []) {
        if ((key as { elem?: { timeout?: number } }).elem?.timeout !== undefined) timed++;
        read.set(elementKey(key, interval, map["type"] as SetType), typeof value === "string" ? value : JSON.stringify(value));
      }
      const expected = new Map([...compiled.sets[set]].map(([k, e]) => [k, e.value]));
      assert.ok(expected.size > 0, `${set} has elements to test`);
      assert.deepEqual(new Map([...read].sort()), new Map([...expected].sort()), set);
    }
    const dns = [...compiled.sets.policy_allow_v4.values(), ...compiled.sets.policy_allow_v6.values()].filter((e) => e.expiresAt !== undefined);
    assert.ok(dns.length >= 2, "the plane has DNS-derived elements");
    assert.equal(timed, dns.length, "every DNS-derived element, and only those, carries a timeout");
  });

  it("the kernel refuses an element that overlaps one already there (what disjointness protects against)", async () => {
    const overlapping = { nftables: [{ add: { element: { family: "inet", table: TABLE, name: "policy_allow_v4", elem: [
      [{ concat: [{ prefix: { addr: "192.0.2.0", len: 25 } }, { prefix: { addr: "10.244.1.0", len: 24 } }, 6, { range: [440, 450] }] }, "fg_0"],
    ] } } }] };
    const result = await loadBatch(overlapping);
    assert.equal(result.exitCode, 1, "an overlapping element is refused");
    assert.match(result.stderr, /File exists|exists|overlap/i);
  });
});
