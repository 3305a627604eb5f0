import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Netns, uniqueSuffix } from "../../lab/netns.js";
import type { Mapping } from "../../appliance/model.js";
import { batch } from "../../appliance/nft/json.js";
import { desiredNftState, renderFull, type RulesetOptions } from "../../appliance/nft/ruleset.js";
import { readDesiredState, type DesiredState } from "../../appliance/reconcile/desired-state.js";
import { tenants, type Tenants } from "../unit/api/harness.js";
import { seededRandom } from "../helpers/random.js";

const isRoot = process.getuid?.() === 0;
const ROUNDS = Number(process.env["EGW_FUZZ_ROUNDS"] ?? 150);
const SEED = Number(process.env["EGW_FUZZ_SEED"] ?? Math.floor(Math.random() * 2 ** 31));

/** Every guard on: the fuzz checks the table the daemon would really load. */
const OPTIONS: RulesetOptions = {
  table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop",
  sourceBinding: "next-hop", failClosedMark: 0x10000000,
  peerGuard: { syncInterface: "sync", localAddress: "192.168.255.1", peerAddress: "192.168.255.2", conntrackdPort: 3780, replicationPort: 8443 },
};


/** Random inputs that look valid: prefixes with the host bits cleared, inside the owner's ranges, with traps mixed in. */
class Inputs {
  constructor(private readonly random: () => number) {}

  int(below: number): number {
    return Math.floor(this.random() * below);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  /** A v4 prefix of length len whose first `fixed` bits are those of `base` (a 32-bit number). */
  v4(base: number, fixed: number, len: number): string {
    let value = base >>> 0;
    for (let bit = fixed; bit < len; bit++) if (this.chance(0.5)) value = (value | (1 << (31 - bit))) >>> 0;
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    value = (value & mask) >>> 0;
    return `${[24, 16, 8, 0].map((s) => (value >>> s) & 255).join(".")}/${len}`;
  }

  /** A v6 prefix of length len under base (8 groups of 16 bits) with its first `fixed` bits kept. */
  v6(base: number[], fixed: number, len: number): string {
    const groups = [...base];
    for (let bit = fixed; bit < len; bit++) {
      if (this.chance(0.5)) groups[bit >> 4] = ((groups[bit >> 4] ?? 0) | (1 << (15 - (bit & 15)))) & 0xffff;
    }
    for (let bit = len; bit < 128; bit++) groups[bit >> 4] = (groups[bit >> 4] ?? 0) & ~(1 << (15 - (bit & 15))) & 0xffff;
    return `${groups.map((g) => g.toString(16)).join(":")}/${len}`;
  }

  /** Destination lists: random, nested (one inside another), duplicated, /0, host prefixes, IPv4-mapped IPv6. */
  destinations(v6: boolean): string[] {
    const list: string[] = [];
    const count = this.int(5);
    for (let i = 0; i < count; i++) {
      // Traps (a duplicate, a prefix nested in another) are refused by the API: a few, not most.
      const previous = list.length > 0 && this.chance(0.08) ? this.pick(list) : undefined;
      if (previous && this.chance(0.3)) {
        list.push(previous);
        continue;
      }
      // The traps the API must refuse come rarely (a whole-space /0, an IPv4-mapped prefix): most lists are valid,
      // so that most sets reach the kernel; kinds the kernel could stumble on (host prefixes, long and short
      // prefixes side by side) come often.
      const kind = this.random();
      if (v6) {
        if (kind < 0.04) list.push("::/0");
        else if (kind < 0.08) list.push(this.v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, 96 + this.int(33)));
        else if (kind < 0.4) list.push(this.v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, 128));
        else if (previous) list.push(this.nested(previous));
        else list.push(this.v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, 48 + this.int(81)));
      } else {
        if (kind < 0.04) list.push("0.0.0.0/0");
        else if (kind < 0.4) list.push(this.v4(0xc6336400, 24, 32));
        else if (previous) list.push(this.nested(previous));
        else list.push(this.v4(this.pick([0x0a000000, 0xc6336400, 0xc0000200]), 8, 16 + this.int(17)));
      }
    }
    return list;
  }

  /** A prefix inside or around `prefix`: a longer one under it, or a shorter one covering it. */
  private nested(prefix: string): string {
    const [address, lenText] = prefix.split("/") as [string, string];
    const len = Number(lenText);
    const v6 = address.includes(":");
    const max = v6 ? 128 : 32;
    const longer = this.chance(0.5) && len < max;
    const newLen = longer ? len + 1 + this.int(max - len) : this.int(len + 1);
    if (v6) {
      const groups = expand6(address);
      return this.v6(groups, longer ? len : newLen, newLen);
    }
    const value = address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
    return this.v4(value, longer ? len : newLen, newLen);
  }
}

function expand6(address: string): number[] {
  const [head, tail] = address.split("::") as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(":").filter(Boolean).map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

interface Refusal {
  round: number;
  cluster: string;
  mapping: Mapping | undefined;
  error: string;
}

/**
 * Every state the real API accepts must be a table the kernel accepts: otherwise one tenant's accepted input
 * makes the whole data plane fail. Random mapping sets go through the API app in-process (the unit harness);
 * for every accepted one the full table is rendered from the store and dry-run with `nft -c` in a namespace of
 * our own. Reproduce a run with EGW_FUZZ_SEED=<seed> (and EGW_FUZZ_ROUNDS).
 */
describe(`fuzz: what the API accepts, the kernel accepts (seed ${SEED})`, { skip: isRoot ? false : "needs root for a network namespace" }, () => {
  let ns: Netns;
  let dir: string;
  let world: Tenants;
  let checks = 0;

  before(async () => {
    ns = await Netns.create(`egwf-${uniqueSuffix()}`);
    dir = mkdtempSync(join(tmpdir(), "egw-fuzz-"));
    world = await tenants();
    // Exclusions need the admin's grant: grant everything, so that the fuzz reaches the kernel with them.
    for (const [name, grant] of [["alpha", ["0.0.0.0/0", "::/0"]], ["beta", ["0.0.0.0/0"]]] as const) {
      const current = await (await world.h.admin("GET", `/v1/clusters/${name}`)).json() as { sourceRanges: string[]; egressIps: string[] };
      const granted = await world.h.admin("PUT", `/v1/clusters/${name}`, { sourceRanges: current.sourceRanges, egressIps: current.egressIps, excludableDestinations: grant });
      assert.equal(granted.status, 200, await granted.text());
    }
  });

  after(async () => {
    await ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The kernel's verdict on the full table of `mappings` (undefined: accepted). */
  const refusal = async (desired: DesiredState, mappings: Mapping[]): Promise<string | undefined> => {
    const guards = { claimed: desired.sourceRanges.map((r) => r.cidr), bound: [] };
    const file = join(dir, `check-${checks++}.json`);
    writeFileSync(file, JSON.stringify(batch(renderFull(OPTIONS, desiredNftState(OPTIONS, mappings, desired.egressIps, guards)))));
    const result = await ns.exec("nft", ["-c", "-j", "-f", file], { reject: false });
    rmSync(file);
    return result.exitCode === 0 ? undefined : String(result.stderr).trim();
  };

  it(`every accepted mapping set renders a table the kernel accepts (${ROUNDS} rounds)`, async (t) => {
    const inputs = new Inputs(seededRandom(SEED));
    const clusters = [
      { name: "alpha", token: world.alpha.token, v4: 0x0af40000, v6: [0xfd00, 0x10, 0x244, 0, 0, 0, 0, 0], eips: { v4: ["203.0.113.10", "203.0.113.11"], v6: ["2001:db8::10"] } },
      { name: "beta", token: world.beta.token, v4: 0x0af50000, v6: undefined, eips: { v4: ["203.0.113.20"], v6: [] as string[] } },
    ];
    const refused: Refusal[] = [];
    const statuses = new Map<number, number>();
    let accepted = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const cluster = inputs.pick(clusters);
      const mappings = Array.from({ length: 1 + inputs.int(6) }, (_, i) => {
        const v6 = cluster.v6 !== undefined && inputs.chance(0.4);
        const sourceCidr = v6 ? inputs.v6(cluster.v6 as number[], 48, 48 + inputs.int(81)) : inputs.v4(cluster.v4, 16, 16 + inputs.int(17));
        const egressIp = inputs.pick(v6 ? cluster.eips.v6 : cluster.eips.v4);
        return {
          name: `m${i}`, sourceCidr, egressIp,
          ...(inputs.chance(0.7) ? { destinations: inputs.destinations(v6) } : {}),
          ...(inputs.chance(0.5) ? { excludedDestinations: inputs.destinations(v6) } : {}),
        };
      });
      const response = await world.h.as(cluster.token, "PUT", `/v1/clusters/${cluster.name}/mappings`, { mappings });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      if (response.status !== 200) continue;
      accepted++;
      const desired = readDesiredState(world.h.db);
      const error = await refusal(desired, desired.mappings);
      if (error === undefined) continue;
      // Which mapping? Check each of the cluster's mappings alone.
      const culprits: Refusal[] = [];
      for (const mapping of desired.mappings.filter((m) => m.cluster === cluster.name)) {
        const alone = await refusal(desired, [mapping]);
        if (alone !== undefined) culprits.push({ round, cluster: cluster.name, mapping, error: alone });
      }
      refused.push(...(culprits.length > 0 ? culprits : [{ round, cluster: cluster.name, mapping: undefined, error }]));
      // Leave a state the kernel accepts for the next rounds.
      await world.h.as(cluster.token, "PUT", `/v1/clusters/${cluster.name}/mappings`, { mappings: [] });
    }
    t.diagnostic(`seed ${SEED}: ${accepted} of ${ROUNDS} mapping sets accepted by the API, ${refused.length} refused by the kernel; API answers ${JSON.stringify(Object.fromEntries(statuses))}`);
    // The traps are refused (422/409); the rest must be enough to exercise the kernel.
    assert.ok(accepted >= ROUNDS / 8, `the generator must produce mostly valid input (accepted ${accepted} of ${ROUNDS})`);
    for (const r of refused.slice(0, 50)) {
      t.diagnostic(`refused: round ${r.round} ${r.cluster} ${r.mapping ? JSON.stringify({ name: r.mapping.name, sourceCidr: r.mapping.sourceCidr, destinations: r.mapping.destinations, excludedDestinations: r.mapping.excludedDestinations }) : "(combination)"}`);
    }
    const report = refused.slice(0, 5).map((r) => `round ${r.round}, cluster ${r.cluster}: ${r.mapping
      ? `mapping ${r.mapping.name} ${JSON.stringify({ sourceCidr: r.mapping.sourceCidr, destinations: r.mapping.destinations, excludedDestinations: r.mapping.excludedDestinations })}`
      : "the combination of its mappings"}\n    nft: ${r.error.split("\n")[0]}`);
    assert.equal(refused.length, 0,
      `the API accepted ${refused.length} mapping(s) the kernel refuses (EGW_FUZZ_SEED=${SEED} reproduces this run):\n  ${report.join("\n  ")}`);
  });
});
