import { createHash } from "node:crypto";
import { hostPrefixLength, parsePrefix, type Family } from "../net/cidr.js";
import type { EgressPolicy, PolicyFloor } from "../model.js";
import { coverageOf, sharedAddresses, type ResolvedAddress } from "./coverage.js";
import { decompose, type Piece } from "./decompose.js";
import { addressRangeText, intersect, normalize, numberRangeText, type AddressRange } from "./intervals.js";

export type { ResolvedAddress } from "./coverage.js";

export const POLICY_SET_NAMES = [
  "floor_v4", "floor_v6", "cluster_floor_v4", "cluster_floor_v6", "policy_allow_v4", "policy_allow_v6",
  "policy_unmatched_v4", "policy_unmatched_v6", "policy_verdict_v4", "policy_verdict_v6",
] as const;
export type PolicySetName = (typeof POLICY_SET_NAMES)[number];

export interface PlaneElement {
  /** A counter's name, or (verdict maps) the verdict as JSON text. */
  value: string;
  /** DNS-derived: the element stops being true then (ms epoch). */
  expiresAt?: number;
}

export interface CounterOwner {
  kind: "rule" | "unmatched" | "floor";
  cluster: string | null;
  mapping: string | null;
  rule: number | null;
}

export interface MappingPolicyInput {
  cluster: string;
  mapping: string;
  sourceCidr: string;
  policy: EgressPolicy;
}

export interface PolicyPlaneInput {
  policies: readonly MappingPolicyInput[];
  floors: readonly PolicyFloor[];
  clusterSources: ReadonlyMap<string, readonly string[]>;
  /** Current addresses of a DNS name (both families); [] when unknown. */
  addressesOf: (name: string) => readonly ResolvedAddress[];
}

export interface CompiledPolicies {
  /** Key text (as the readback derives it) → element. */
  sets: Record<PolicySetName, Map<string, PlaneElement>>;
  counters: Map<string, CounterOwner>;
  /** Elements per mapping ("cluster/mapping"): its allow elements plus its unmatched and verdict entries. */
  elementsPerMapping: Map<string, number>;
}

const v = (family: Family) => (family === 4 ? "v4" : "v6");

const hash16 = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);

export const ruleCounter = (cluster: string, mapping: string, rule: number) => `pr_${hash16(`${cluster}/${mapping}`)}_${rule}`;
export const unmatchedCounter = (cluster: string, mapping: string) => `pu_${hash16(`${cluster}/${mapping}`)}`;
export const floorCounter = (cluster: string | null, rule: number) => (cluster === null ? `fg_${rule}` : `fc_${hash16(cluster)}_${rule}`);

/** Verdict text exactly as `JSON.stringify` of what `nft -j list` prints, so a readback compares equal. */
export function verdictOf(policy: Pick<EgressPolicy, "mode" | "defaultAction">): string {
  if (policy.defaultAction === "allow") return JSON.stringify({ accept: null });
  return JSON.stringify({ jump: { target: policy.mode === "enforce" ? "policy_deny" : "policy_audit" } });
}

/**
 * A piece's key: destination, then (with `source`) the source range, protocol and port. The destination comes first
 * because the kernel's interval sets for concatenations (pipapo) narrow the candidates field by field: a source first
 * would leave every element of the connection's own mapping standing after the first field, and the lookup would
 * walk them all (measured: 0.2× the connection rate with 10,000 destinations on one mapping, against 0.9× this way).
 */
const pieceKey = (piece: Piece, family: Family, source?: string) =>
  `${addressRangeText(piece.address, family)}${source === undefined ? "" : ` . ${source}`} . ${numberRangeText(piece.protocol)} . ${numberRangeText(piece.port)}`;

function element(value: string, expiresAt: number | undefined): PlaneElement {
  return expiresAt === undefined ? { value } : { value, expiresAt };
}

interface MappingPlane {
  family: Family;
  allow: [string, PlaneElement][];
  source: string;
  unmatched: PlaneElement;
  verdict: PlaneElement;
  counters: [string, CounterOwner][];
}

function compileMapping(input: MappingPolicyInput, addressesOf: PolicyPlaneInput["addressesOf"]): MappingPlane {
  const { cluster, mapping, policy } = input;
  const cidr = input.sourceCidr.includes("/") ? input.sourceCidr : `${input.sourceCidr}/${hostPrefixLength(input.sourceCidr)}`;
  const prefix = parsePrefix(cidr, "sourceCidr");
  const family = prefix.family;
  const source = addressRangeText({ lo: prefix.start, hi: prefix.end }, family);
  const counters: [string, CounterOwner][] = policy.rules.map((_, rule) => [ruleCounter(cluster, mapping, rule), { kind: "rule", cluster, mapping, rule }]);
  const unmatched = unmatchedCounter(cluster, mapping);
  counters.push([unmatched, { kind: "unmatched", cluster, mapping, rule: null }]);
  const pieces = piecesOf(policy.rules, family, addressesOf);
  const names = counters.map(([name]) => name);
  const allow = pieces.map((p): [string, PlaneElement] => [pieceKey(p, family, source), element(names[p.owner] as string, p.expiresAt)]);
  return { family, allow, source, unmatched: { value: unmatched }, verdict: { value: verdictOf(policy) }, counters };
}

interface FloorPlane {
  sets: [PolicySetName, string, PlaneElement][];
  counters: [string, CounterOwner][];
}

function compileFloors(floors: readonly PolicyFloor[], clusterSources: PolicyPlaneInput["clusterSources"]): FloorPlane {
  const out: FloorPlane = { sets: [], counters: [] };
  const scopes = new Map<string | null, PolicyFloor["rules"]>();
  // One floor per scope is expected; should there be more, their rules count on in order.
  for (const floor of floors) scopes.set(floor.cluster, [...(scopes.get(floor.cluster) ?? []), ...floor.rules]);
  for (const [cluster, rules] of scopes) {
    rules.forEach((_, rule) => out.counters.push([floorCounter(cluster, rule), { kind: "floor", cluster, mapping: null, rule }]));
    for (const family of [4, 6] as const) {
      const pieces = decompose(rules.map((rule, i) => coverageOf(rule, i, family)));
      if (cluster === null) {
        for (const p of pieces) out.sets.push([`floor_${v(family)}`, pieceKey(p, family), { value: floorCounter(null, p.owner) }]);
        continue;
      }
      for (const source of sourceRanges(clusterSources.get(cluster) ?? [], family)) {
        const text = addressRangeText(source, family);
        for (const p of pieces) out.sets.push([`cluster_floor_${v(family)}`, pieceKey(p, family, text), { value: floorCounter(cluster, p.owner) }]);
      }
    }
  }
  return out;
}

function sourceRanges(cidrs: readonly string[], family: Family): AddressRange[] {
  return normalize(cidrs.map((c, i) => parsePrefix(c, `clusterSources[${i}]`)).filter((p) => p.family === family).map((p) => ({ lo: p.start, hi: p.end })));
}

/**
 * Decompositions by rules, family and the names' answers, whatever the mapping: the API's size check of a new policy
 * (compiled for a stand-in source) leaves the pieces the reconciler then needs, so a change is decomposed once.
 * Bounded by the pieces it holds, not by entries: one policy may be 20,000 pieces, and the daemon's heap is small.
 */
const PIECES_BUDGET = 60_000;
const piecesCache = new Map<string, Piece[]>();
let piecesHeld = 0;

function piecesOf(rules: EgressPolicy["rules"], family: Family, addressesOf: PolicyPlaneInput["addressesOf"]): Piece[] {
  const key = JSON.stringify([family, rules, namesOf(rules).map((n) => [n, addressesOf(n)])]);
  const hit = piecesCache.get(key);
  if (hit) {
    piecesCache.delete(key);
    piecesCache.set(key, hit);
    return hit;
  }
  const made = decompose(rules.map((rule, i) => coverageOf(rule, i, family, addressesOf)));
  piecesCache.set(key, made);
  piecesHeld += made.length;
  for (const [oldest, pieces] of piecesCache) {
    if (piecesHeld <= PIECES_BUDGET || oldest === key) break;
    piecesCache.delete(oldest);
    piecesHeld -= pieces.length;
  }
  return made;
}

const namesOf = (rules: EgressPolicy["rules"]): string[] =>
  [...new Set(rules.flatMap((r) => r.destinations.flatMap((d) => (d.name === undefined ? [] : [d.name]))))].sort();

function mappingKey(input: MappingPolicyInput, addressesOf: PolicyPlaneInput["addressesOf"]): string {
  return JSON.stringify([input.cluster, input.mapping, input.sourceCidr, input.policy, namesOf(input.policy.rules).map((n) => [n, addressesOf(n)])]);
}

/**
 * A compiler that remembers what it compiled, so that a pass over an unchanged configuration costs a lookup per
 * mapping: the reconciler keeps one. An entry not used by any of the last few calls is dropped, so the old versions
 * of changed policies do not pile up (isolation may render several candidates in one pass, hence a few calls).
 */
export class PolicyCompiler {
  private readonly mappings = new Map<string, { plane: MappingPlane; used: number }>();
  private readonly floors = new Map<string, { plane: FloorPlane; used: number }>();
  private calls = 0;

  constructor(private readonly keepForCalls = 8) {}

  compile(input: PolicyPlaneInput): CompiledPolicies {
    const call = this.nextCall();
    const sets = Object.fromEntries(POLICY_SET_NAMES.map((name) => [name, new Map<string, PlaneElement>()])) as Record<PolicySetName, Map<string, PlaneElement>>;
    const counters = new Map<string, CounterOwner>();
    const elementsPerMapping = new Map<string, number>();
    for (const mapping of input.policies) {
      const plane = this.remembered(this.mappings, mappingKey(mapping, input.addressesOf), call, () => compileMapping(mapping, input.addressesOf));
      const allow = sets[`policy_allow_${v(plane.family)}`];
      for (const [key, value] of plane.allow) allow.set(key, value);
      sets[`policy_unmatched_${v(plane.family)}`].set(plane.source, plane.unmatched);
      sets[`policy_verdict_${v(plane.family)}`].set(plane.source, plane.verdict);
      for (const [name, owner] of plane.counters) counters.set(name, owner);
      elementsPerMapping.set(`${mapping.cluster}/${mapping.mapping}`, plane.allow.length + 2);
    }
    const floorKey = JSON.stringify([input.floors, input.floors.map((f) => (f.cluster === null ? [] : input.clusterSources.get(f.cluster) ?? []))]);
    const floors = this.remembered(this.floors, floorKey, call, () => compileFloors(input.floors, input.clusterSources));
    return finish(sets, counters, elementsPerMapping, floors);
  }

  /**
   * Starts a call (compile() does; the reconciler's changelog shortcut, which asks elementsOf, does too): entries no
   * call among the last few used are dropped, so the old versions of changed policies do not pile up.
   */
  nextCall(): number {
    const call = ++this.calls;
    for (const cache of [this.mappings, this.floors] as Map<string, { used: number }>[]) {
      for (const [key, entry] of cache) if (entry.used <= call - this.keepForCalls) cache.delete(key);
    }
    return call;
  }

  /** How many mapping planes are remembered (for tests). */
  get rememberedPlanes(): number {
    return this.mappings.size;
  }

  /**
   * The elements and counters one mapping's policy puts into the policy maps, as compile() would add them, or undefined
   * when the policy names DNS destinations (their elements expire: only a full render keeps the expiries). Uses and
   * fills the same cache as compile(), without counting as a call.
   */
  elementsOf(input: MappingPolicyInput): { elements: [PolicySetName, string, string][]; counters: string[] } | undefined {
    if (namesOf(input.policy.rules).length > 0) return undefined;
    const none = () => [];
    const plane = this.remembered(this.mappings, mappingKey(input, none), this.calls, () => compileMapping(input, none));
    const family = v(plane.family);
    const elements: [PolicySetName, string, string][] = plane.allow.map(([key, element]) => [`policy_allow_${family}`, key, element.value]);
    elements.push([`policy_unmatched_${family}`, plane.source, plane.unmatched.value], [`policy_verdict_${family}`, plane.source, plane.verdict.value]);
    return { elements, counters: plane.counters.map(([name]) => name) };
  }

  private remembered<T>(cache: Map<string, { plane: T; used: number }>, key: string, call: number, make: () => T): T {
    const entry = cache.get(key) ?? { plane: make(), used: call };
    entry.used = call;
    cache.set(key, entry);
    return entry.plane;
  }
}

/**
 * The policy plane: every element of the policy maps, pairwise disjoint within a map (the kernel refuses
 * overlapping elements in a concatenated interval set), and the counters they name. Pure: no I/O, no clock. A
 * one-off compile (the API's size check, the CLI); the reconciler keeps a PolicyCompiler.
 */
export function compilePolicies(input: PolicyPlaneInput): CompiledPolicies {
  return new PolicyCompiler(1).compile(input);
}

function finish(
  sets: Record<PolicySetName, Map<string, PlaneElement>>, counters: Map<string, CounterOwner>, elementsPerMapping: Map<string, number>, floors: FloorPlane,
): CompiledPolicies {
  for (const [set, key, value] of floors.sets) sets[set].set(key, value);
  for (const [name, owner] of floors.counters) counters.set(name, owner);
  return { sets, counters, elementsPerMapping };
}

export interface FloorConflict {
  /** Index of the policy rule and of its destination. */
  rule: number;
  destination: number;
  floorCluster: string | null;
  floorRule: number;
  /** What both cover, as prefixes or ranges. */
  overlap: string;
}

/**
 * Where a policy's CIDR destinations allow what a floor denies (same family, protocols and ports that meet).
 * DNS names are not judged here: their answers move, and the floor is enforced before the policy anyway.
 */
export function floorConflicts(policy: EgressPolicy, family: 4 | 6, floors: readonly PolicyFloor[]): FloorConflict[] {
  const conflicts: FloorConflict[] = [];
  // Each floor rule's coverage once, not once per destination: a policy may name 10,000 of them.
  const denied = floors.flatMap((floor) => floor.rules.map((floorRule, f) => ({ floor, f, coverage: coverageOf(floorRule, f, family) })))
    .filter((d) => d.coverage.permanent.length > 0);
  if (denied.length === 0) return conflicts;
  // One intersection with everything any floor denies clears most destinations before the per-rule comparisons.
  const anyDenied = normalize(denied.flatMap((d) => d.coverage.permanent));
  policy.rules.forEach((rule, r) => {
    rule.destinations.forEach((destination, d) => {
      if (destination.cidr === undefined) return;
      const allowed = coverageOf({ ...rule, destinations: [destination] }, r, family);
      if (intersect(allowed.permanent, anyDenied).length === 0) return;
      for (const { floor, f, coverage } of denied) {
        const shared = sharedAddresses(allowed, coverage);
        if (shared.length === 0) continue;
        const overlap = shared.map((s) => addressRangeText(s, family)).join(", ");
        conflicts.push({ rule: r, destination: d, floorCluster: floor.cluster, floorRule: f, overlap });
      }
    });
  });
  return conflicts;
}

/**
 * How many kernel elements a policy makes of one mapping of `family` (its allow pieces, its unmatched and verdict
 * entries), without rendering them: the API's size check. The decomposition is cached for the reconciler.
 */
export function policyElementCount(policy: EgressPolicy, family: Family): number {
  return piecesOf(policy.rules, family, () => []).length + 2;
}
