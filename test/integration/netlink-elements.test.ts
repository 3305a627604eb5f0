import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { uniqueSuffix, type Netns } from "../../lab/netns.js";
import { namespaceFactory } from "../../lab/topology.js";
import { encodeChanges } from "../../appliance/nft/netlink-elements.js";
import { NftClient } from "../../appliance/nft/nft-client.js";
import { NftTable } from "../../appliance/nft/nft-table.js";
import type { RulesetOptions } from "../../appliance/nft/ruleset.js";
import { cloneState, counterName, stateChanges, type NftState, type SetName } from "../../appliance/nft/state.js";
import { NetlinkRefusal, openNetfilterSocket, type NetfilterTransactions } from "../../appliance/system/netlink.js";
import { ExecaRunner, type CommandResult, type CommandRunner, type RunOptions } from "../../appliance/system/runner.js";

const isRoot = process.getuid?.() === 0;

class NamespaceRunner implements CommandRunner {
  private readonly inner = new ExecaRunner();
  constructor(private readonly namespace: string) {}
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    return this.inner.run("ip", ["netns", "exec", this.namespace, command, ...args], options);
  }
}

const OPTIONS: RulesetOptions = {
  table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop", sourceBinding: "next-hop",
};

type Contents = Partial<Record<SetName, Record<string, string>>>;

/**
 * `base` with these set contents instead of its own (sets not named are emptied), these counters added and these
 * elements expiring (ms from now).
 */
function state(base: NftState, contents: Contents, counters: string[] = [], expiring: Partial<Record<SetName, Record<string, number>>> = {}): NftState {
  const s = cloneState(base);
  for (const name of Object.keys(s.sets) as SetName[]) s.sets[name] = new Map(Object.entries(contents[name] ?? {}));
  for (const c of counters) s.counters.add(c);
  s.expiries = Object.fromEntries(Object.entries(expiring).map(([name, keys]) => [name, new Map(Object.entries(keys).map(([key, inMs]) => [key, Date.now() + inMs]))]));
  return s;
}

const C1 = counterName("out", "192.0.2.1");
const C2 = counterName("in", "192.0.2.1");

/** Each step's table, reached from the one before by element changes over netlink. */
const HOUR = 3_600_000;
const ACCEPT = JSON.stringify({ accept: null });
const DENY = JSON.stringify({ jump: { target: "policy_deny" } });
const AUDIT = JSON.stringify({ jump: { target: "policy_audit" } });

const STEPS: [string, Contents, string[], Partial<Record<SetName, Record<string, number>>>?][] = [
  ["adds to empty sets: adjacent prefixes, a host, the top of the space, all of it, concatenations, MACs, counter references", {
    snat_v4: { "10.0.0.0/24": "192.0.2.1", "10.0.1.0/24": "192.0.2.2", "10.0.2.7/32": "192.0.2.1", "255.255.255.0/24": "192.0.2.3" },
    snat_v6: { "2001:db8::/64": "2001:db8:ffff::1", "2001:db8:0:1::/64": "2001:db8:ffff::2", "fd00::1/128": "2001:db8:ffff::1", "ffff:ff00::/24": "2001:db8:ffff::3" },
    snat_dst_v4: { "10.2.0.0/16 . 0.0.0.0/0": "192.0.2.1", "10.3.0.0/16 . 198.51.100.7/32": "192.0.2.2", "10.3.1.0/24 . 255.255.255.255/32": "192.0.2.2" },
    snat_dst_v6: { "fd00:1::/64 . ::/0": "2001:db8:ffff::1", "fd00:2::/64 . 2001:db8::/32": "2001:db8:ffff::2" },
    nonat_v4: { "10.0.0.0/24 . 10.0.0.0/8": "", "10.0.1.0/24 . 198.51.100.1/32": "" },
    nonat_v6: { "2001:db8::/64 . fc00::/7": "" },
    claimed_v4: { "0.0.0.0/0": "" },
    claimed_v6: { "fd00::/8": "", "fe00::/8": "" },
    bound_v4: { "02:00:00:00:00:01 . 10.0.0.0/16": "", "02:00:00:00:00:02 . 10.1.0.1/32": "" },
    bound_v6: { "02:00:00:00:00:01 . fd00::/64": "" },
    eip_out_v4: { "192.0.2.1": C1 },
    eip_in_v4: { "192.0.2.1": C2 },
  }, [C1, C2]],
  ["deletes, changed values, a split prefix, the whole space given back", {
    snat_v4: { "10.0.0.0/25": "192.0.2.1", "10.0.0.128/25": "192.0.2.2", "10.0.1.0/24": "192.0.2.1", "10.0.2.6/32": "192.0.2.1", "255.255.255.254/31": "192.0.2.3" },
    snat_v6: { "2001:db8:0:1::/64": "2001:db8:ffff::1", "fd00::2/128": "2001:db8:ffff::1" },
    snat_dst_v4: { "10.3.0.0/16 . 198.51.100.7/32": "192.0.2.1" },
    nonat_v4: { "10.0.1.0/24 . 198.51.100.1/32": "" },
    claimed_v4: { "10.0.0.0/8": "", "11.0.0.0/8": "" },
    claimed_v6: { "fd00::/8": "" },
    bound_v4: { "02:00:00:00:00:03 . 10.0.0.0/16": "" },
    eip_out_v4: { "192.0.2.1": C1 },
  }, [C1]],
  ["the policy sets: protocols, ports, address ranges, counters, verdicts, timeouts", {
    floor_v4: { "10.0.0.0/8 . 6 . 443": "pc", "192.0.2.1-192.0.2.5 . 0-255 . 0-65535": "pc" },
    floor_v6: { "2001:db8::/32 . 17 . 53": "pc" },
    cluster_floor_v4: { "198.51.100.0/24 . 10.0.0.0/24 . 6 . 80-88": "pc" },
    cluster_floor_v6: { "2001:db8::/32 . fd00::/48 . 17 . 53": "pc" },
    policy_allow_v4: { "198.51.100.7/32 . 10.0.0.0/24 . 6 . 443": "pc", "198.51.100.8/32 . 10.0.0.0/24 . 17 . 1000-2000": "pc" },
    policy_allow_v6: { "2001:db8::1/128 . fd00::/64 . 6 . 443": "pc" },
    policy_unmatched_v4: { "10.0.0.0/24": "pc", "10.0.1.0/24": "pc" },
    policy_unmatched_v6: { "fd00::/64": "pc" },
    policy_verdict_v4: { "10.0.0.0/24": ACCEPT, "10.0.1.0/24": DENY, "255.255.255.255/32": AUDIT },
    policy_verdict_v6: { "fd00::/64": DENY },
  }, ["pc"], { policy_allow_v4: { "198.51.100.7/32 . 10.0.0.0/24 . 6 . 443": HOUR }, policy_allow_v6: { "2001:db8::1/128 . fd00::/64 . 6 . 443": HOUR } }],
  ["policy changes: a verdict changed, an allow expiring later, one gone", {
    floor_v4: { "10.0.0.0/8 . 6 . 443": "pc" },
    cluster_floor_v4: { "198.51.100.0/24 . 10.0.0.0/24 . 6 . 80-88": "pc2" },
    policy_allow_v4: { "198.51.100.7/32 . 10.0.0.0/24 . 6 . 443": "pc" },
    policy_unmatched_v4: { "10.0.0.0/24": "pc2" },
    policy_verdict_v4: { "10.0.0.0/24": DENY, "10.0.1.0/24": DENY },
    policy_verdict_v6: { "fd00::/64": ACCEPT, "fd00:0:0:1::/64": AUDIT },
  }, ["pc", "pc2"], { policy_allow_v4: { "198.51.100.7/32 . 10.0.0.0/24 . 6 . 443": 2 * HOUR } }],
  ["everything removed again, counters too", {}, []],
  ["elements back in sets that were emptied", { snat_v4: { "10.0.0.0/24": "192.0.2.9" }, claimed_v4: { "0.0.0.0/0": "" } }, []],
];

/**
 * Element changes written over netlink must leave the kernel holding exactly what nft would have: after every step
 * `nft -j list table` reads back as the wanted state. And a batch the kernel refuses changes nothing.
 */
describe("element changes over netlink", { skip: isRoot ? false : "needs root for a network namespace" }, () => {
  const factory = namespaceFactory(`egwn-${uniqueSuffix()}`);
  let gateway: Netns;
  let table: NftTable;
  let socket: NetfilterTransactions;
  let base: NftState;

  before(async () => {
    gateway = await factory.make("gw");
    socket = openNetfilterSocket({ namespace: gateway.name });
    table = new NftTable(new NftClient(new NamespaceRunner(gateway.name)), OPTIONS, socket);
    base = table.desired([], []);
    assert.deepEqual(await table.replace(base), { unconfirmed: [] });
  });

  after(async () => {
    socket.close();
    await factory.destroy();
    const { stdout } = await execa("ip", ["netns", "list"]);
    assert.ok(!stdout.split("\n").some((line) => line.startsWith(gateway.name)), `namespace ${gateway.name} was removed`);
  });

  it("the kernel holds each step's elements exactly, as nft lists them", async () => {
    let current = base;
    for (const [label, contents, counters, expiring] of STEPS) {
      const next = state(base, contents, counters, expiring);
      const changes = stateChanges(current, next);
      assert.ok(encodeChanges(OPTIONS.table, changes, next), `${label}: encoded for netlink, not left to nft`);
      assert.deepEqual(await table.update(changes, next), { unconfirmed: [] }, label);
      assert.deepEqual(await table.differences(next), [], label);
      // A readback knows no expiries: the kernel's timeouts are read from the listing (whole seconds, the grace added).
      for (const [name, keys] of Object.entries(expiring ?? {})) {
        const listing = JSON.parse(String((await gateway.exec("nft", ["-j", "list", "map", "inet", OPTIONS.table, name])).stdout)) as { nftables: { map?: { elem?: unknown[] } }[] };
        const timeouts = (listing.nftables.find((i) => i.map)?.map?.elem ?? []).flatMap((e) => {
          const timeout = ((e as unknown[])[0] as { elem?: { timeout?: number } }).elem?.timeout;
          return timeout === undefined ? [] : [timeout];
        });
        const wanted = Object.values(keys).map((inMs) => inMs / 1000);
        assert.equal(timeouts.length, wanted.length, `${label}: ${name} holds as many elements with a timeout as expire`);
        for (const [i, timeout] of timeouts.sort().entries()) {
          const seconds = wanted.sort()[i] as number;
          assert.ok(timeout > seconds - 60 && timeout <= seconds + 2, `${label}: ${name} timeout ${timeout} s for an expiry in ${seconds} s`);
        }
      }
      current = next;
    }
  });

  it("a refused batch changes nothing and names the message and the error", async () => {
    const before = state(base, { snat_v4: { "10.0.0.0/24": "192.0.2.1" } });
    assert.deepEqual(await table.replace(before), { unconfirmed: [] });
    // Adds one element and deletes one the kernel does not hold: the whole transaction must go.
    const wrongFrom = state(base, { snat_v4: { "10.0.0.0/24": "192.0.2.1", "10.9.9.0/24": "192.0.2.1" } });
    const to = state(base, { snat_v4: { "10.0.0.0/24": "192.0.2.1", "10.0.5.0/24": "192.0.2.1" } });
    await assert.rejects(table.update(stateChanges(wrongFrom, to), to), (error: unknown) => {
      assert.ok(error instanceof NetlinkRefusal);
      assert.equal(error.label, "delete 10.9.9.0/24 from snat_v4");
      assert.match(error.message, /ENOENT/);
      return true;
    });
    assert.deepEqual(await table.differences(before), [], "the table is as it was before the refused batch");
  });
});
