import type { Mapping } from "../model.js";
import {
  guardCounters, INPUT_CHAIN, markRule, peerGuardRules, replyMarkRule, spoofGuardRules, SPOOFED_SETS, type PeerGuard, type SourceBinding,
} from "./guards.js";
import {
  addChain, addCounter, addRule, addSet, addTable, daddr, deleteCounter, deleteTable, elementCommand, meta,
  prefixExpr, saddr, type ChainSpec, type Command, type Expr, type RuleSpec, type SetSpec, type TableRef,
} from "./json.js";
import { POLICY_SET_NAMES, type CompiledPolicies, type PolicySetName } from "../policy/compile.js";
import { POLICY_SET_SPECS, policyElementJson } from "./policy-elements.js";
import { POLICY_CHAINS, policyJumpRule, policyRules, type PolicyLogOptions } from "./policy-rules.js";
import { ruleForm } from "./rule-form.js";
import { desiredSets, SET_NAMES, stateChanges, type GuardInputs, type NftState, type SetName, type StateChanges } from "./state.js";

export interface RulesetOptions {
  table: string;
  insideInterface: string;
  outsideInterface: string;
  unmappedTraffic: "drop" | "masquerade";
  /** "next-hop": new connections from claimed source ranges must come from their route's next hop. Absent: off. */
  sourceBinding?: SourceBinding | undefined;
  /** The bit every packet from the inside gets (the fail-closed policy rule needs it). Absent: no marking. */
  failClosedMark?: number | undefined;
  /** HA: VRRP, conntrackd and replication only from the peer over the sync link. Absent: no input chain. */
  peerGuard?: PeerGuard | undefined;
  /** How the egress policy logs what it refuses (the NFLOG group and its rate). Absent: counted, not logged. */
  policyLog?: PolicyLogOptions | undefined;
}

/**
 * Set definitions. Plain source-prefix maps use the kernel's single-field interval set (a tree lookup);
 * only mappings that restrict destinations need the slower concatenated-range type, so the common case
 * pays for one lookup whatever the number of mappings.
 */
export const SET_SPECS: Record<SetName, Omit<SetSpec, "name" | "elem">> = {
  ...POLICY_SET_SPECS,
  snat_v4: { type: "ipv4_addr", map: "ipv4_addr", flags: ["interval"] },
  snat_v6: { type: "ipv6_addr", map: "ipv6_addr", flags: ["interval"] },
  snat_dst_v4: { type: ["ipv4_addr", "ipv4_addr"], map: "ipv4_addr", flags: ["interval"] },
  snat_dst_v6: { type: ["ipv6_addr", "ipv6_addr"], map: "ipv6_addr", flags: ["interval"] },
  nonat_v4: { type: ["ipv4_addr", "ipv4_addr"], flags: ["interval"] },
  nonat_v6: { type: ["ipv6_addr", "ipv6_addr"], flags: ["interval"] },
  eip_out_v4: { type: "ipv4_addr", map: "counter" },
  eip_out_v6: { type: "ipv6_addr", map: "counter" },
  eip_in_v4: { type: "ipv4_addr", map: "counter" },
  eip_in_v6: { type: "ipv6_addr", map: "counter" },
  claimed_v4: { type: "ipv4_addr", flags: ["interval"] },
  claimed_v6: { type: "ipv6_addr", flags: ["interval"] },
  bound_v4: { type: ["ether_addr", "ipv4_addr"], flags: ["interval"] },
  bound_v6: { type: ["ether_addr", "ipv6_addr"], flags: ["interval"] },
};

/** Sets that exist only for a guard: without source binding they are neither declared nor filled. */
const GUARD_SETS: readonly SetName[] = ["claimed_v4", "claimed_v6", "bound_v4", "bound_v6"];
const binding = (options: RulesetOptions): boolean => options.sourceBinding === "next-hop";

// NAT runs at srcnat (100). Counting out after it sees translated sources; counting in before dstnat
// (-100, where conntrack reverses our SNAT) still sees the egress IP as destination.
// The prerouting chain also marks packets from the inside (fail closed); it runs before the routing
// decision that the policy rule takes.
// Creation order is the order the kernel unregisters the hooks when the table is deleted or the ruleset flushed
// (one by one, without a grace period between them). The chain that sets the fail-closed mark goes first, so
// that no packet is still being marked once the NAT chain is gone: marked, it would be routed, and leave with
// the pod's address; unmarked, the policy rule black-holes it.
const CHAINS: ChainSpec[] = [
  { name: "count_in", type: "filter", hook: "prerouting", prio: -150, policy: "accept" },
  { name: "postrouting", type: "nat", hook: "postrouting", prio: 100, policy: "accept" },
  { name: "forward", type: "filter", hook: "forward", prio: 0, policy: "accept" },
  { name: "count_out", type: "filter", hook: "postrouting", prio: 150, policy: "accept" },
];

const UNLOGGED: PolicyLogOptions = { ratePerSecond: 20, burst: 50 };

/** The chains these options render, in order: the base chains, then the regular chains rules jump to. */
export function chainSpecs(options: RulesetOptions): ChainSpec[] {
  return [...CHAINS, ...(options.peerGuard ? [INPUT_CHAIN] : []), ...POLICY_CHAINS];
}

function rules(options: RulesetOptions): RuleSpec[] {
  const notOutside: Expr = options.outsideInterface;
  const rulesFor = (v: "v4" | "v6"): RuleSpec[] => {
    const p = v === "v4" ? "ip" : "ip6";
    return [
      { chain: "postrouting", comment: `egw:excluded-${v}`, expr: [{ match: { op: "==", left: { concat: [saddr(p), daddr(p)] }, right: `@nonat_${v}` } }, { accept: null }] },
      { chain: "postrouting", comment: `egw:snat-dst-${v}`, expr: [{ snat: { family: p, addr: { map: { key: { concat: [saddr(p), daddr(p)] }, data: `@snat_dst_${v}` } } } }] },
      { chain: "postrouting", comment: `egw:snat-${v}`, expr: [{ snat: { family: p, addr: { map: { key: saddr(p), data: `@snat_${v}` } } } }] },
    ];
  };
  const count = (v: "v4" | "v6", direction: "out" | "in"): RuleSpec => {
    const p = v === "v4" ? "ip" : "ip6";
    return {
      chain: `count_${direction}`,
      comment: `egw:count-${direction}-${v}`,
      expr: [
        { match: { op: "==", left: meta(direction === "out" ? "oifname" : "iifname"), right: options.outsideInterface } },
        { counter: { map: { key: direction === "out" ? saddr(p) : daddr(p), data: `@eip_${direction}_${v}` } } },
        // Counted: nothing after it in this chain concerns the packet (the IPv6 rule cannot match an IPv4 packet), and
        // accept ends this chain only. An address that is no egress IP finds no counter and goes on, as before.
        ...(v === "v4" ? [{ accept: null }] : []),
      ],
    };
  };
  return [
    // Only forwarded inside→outside traffic is ours: the gateway's own traffic and other paths pass untouched.
    { chain: "postrouting", comment: "egw:only-outside", expr: [{ match: { op: "!=", left: meta("oifname"), right: notOutside } }, { return: null }] },
    { chain: "postrouting", comment: "egw:only-from-inside", expr: [{ match: { op: "!=", left: meta("iifname"), right: options.insideInterface } }, { return: null }] },
    ...rulesFor("v4"),
    ...rulesFor("v6"),
    // The nat chain sees the first packet of every new connection: whatever no mapping took ends here.
    { chain: "postrouting", comment: `egw:unmapped-${options.unmappedTraffic}`, expr: [{ counter: null }, options.unmappedTraffic === "drop" ? { drop: null } : { masquerade: null }] },
    // The forward chain decides only about new connections from the inside (the guards, the policy) and about
    // packets conntrack cannot place. Most packets belong to connections conntrack knows: they leave at once, and the
    // rules after the gate need not test the inbound interface each (every rule evaluated costs per packet).
    { chain: "forward", comment: "egw:established", expr: [{ match: { op: "in", left: { ct: { key: "state" } }, right: ["established", "related"] } }, { accept: null }] },
    { chain: "forward", comment: "egw:forward-only-inside", expr: [{ match: { op: "!=", left: meta("iifname"), right: options.insideInterface } }, { accept: null }] },
    ...(binding(options) ? spoofGuardRules() : []),
    // Packets conntrack cannot place never reach the nat chain; without this they would leave untranslated.
    {
      chain: "forward", comment: "egw:drop-untranslatable",
      expr: [
        { match: { op: "==", left: meta("oifname"), right: options.outsideInterface } },
        { match: { op: "in", left: { ct: { key: "state" } }, right: ["invalid", "untracked"] } },
        { counter: null },
        { drop: null },
      ],
    },
    // Last in forward: only what every guard let through reaches the policy.
    policyJumpRule(options.outsideInterface),
    ...policyRules(options.policyLog ?? UNLOGGED),
    count("v4", "out"), count("v6", "out"),
    ...(options.failClosedMark === undefined ? [] : [markRule(options.insideInterface, options.failClosedMark), replyMarkRule(options.outsideInterface, options.failClosedMark)]),
    count("v4", "in"), count("v6", "in"),
    ...(options.peerGuard ? peerGuardRules(options.peerGuard) : []),
  ];
}

/** `guards` feeds the source-binding sets; it is ignored unless options.sourceBinding is "next-hop". */
export function desiredNftState(
  options: RulesetOptions, mappings: readonly Mapping[], egressIps: readonly string[], guards?: GuardInputs, policies?: CompiledPolicies,
): NftState {
  const { sets, counters, expiries } = desiredSets(mappings, egressIps, binding(options) ? guards : undefined, policies);
  for (const name of guardCounters(options)) counters.add(name);
  const chains: Record<string, string[]> = Object.fromEntries(chainSpecs(options).map((c) => [c.name, [] as string[]]));
  const ruleForms: Record<string, string[]> = Object.fromEntries(chainSpecs(options).map((c) => [c.name, [] as string[]]));
  for (const rule of rules(options)) {
    chains[rule.chain]?.push(rule.comment);
    ruleForms[rule.chain]?.push(ruleForm(rule.expr));
  }
  return { sets, counters, chains, ruleForms, expiries };
}

/** How much later than the daemon the kernel lets a DNS-derived element expire: the daemon removes it first. */
export const KERNEL_EXPIRY_GRACE_MS = 2_000;

const isPolicySet = (name: SetName): name is PolicySetName => (POLICY_SET_NAMES as readonly string[]).includes(name);

/** Key parts with a length are prefixes; the others (MAC addresses of bound_*) are plain values. */
function elementJson(set: SetName, key: string, value: string, state: NftState): unknown {
  if (isPolicySet(set)) return policyElementJson(set, key, { value, expiresAt: state.expiries?.[set]?.get(key) }, Date.now(), KERNEL_EXPIRY_GRACE_MS);
  const part = (text: string): Expr => (text.includes("/") ? prefixExpr(text) : text);
  const keyExpr = SET_SPECS[set].flags === undefined
    ? key
    : key.includes(" . ") ? { concat: key.split(" . ").map(part) } : prefixExpr(key);
  return SET_SPECS[set].map === undefined ? keyExpr : [keyExpr, value];
}

/**
 * The whole table, replaced in one transaction: adding then deleting the table makes the delete safe when
 * it does not exist yet, and because the kernel commits the batch atomically no packet ever sees a
 * half-built table or none at all.
 */
export function renderFull(options: RulesetOptions, state: NftState): Command[] {
  const table: TableRef = { family: "inet", name: options.table };
  const commands: Command[] = [addTable(table), deleteTable(table), addTable(table)];
  for (const name of [...state.counters].sort()) commands.push(addCounter(table, name));
  // Chains before sets: a verdict map's elements name the chains they jump to, which must exist by then.
  for (const chain of chainSpecs(options)) commands.push(addChain(table, chain));
  for (const name of SET_NAMES) {
    if (GUARD_SETS.includes(name) && !binding(options)) continue;
    const elem = [...state.sets[name]].map(([key, value]) => elementJson(name, key, value, state));
    commands.push(addSet(table, { name, ...SET_SPECS[name], elem }));
  }
  if (binding(options)) for (const spec of SPOOFED_SETS) commands.push(addSet(table, spec));
  for (const rule of rules(options)) commands.push(addRule(table, rule));
  return commands;
}

/** Only the element and counter changes between two states with the same rules, as one transaction. */
export function renderIncremental(options: RulesetOptions, from: NftState, to: NftState): Command[] {
  return renderChanges(options, stateChanges(from, to), to);
}

/** The element and counter changes as one transaction; `to` (the state they lead to) gives added elements their expiry. */
export function renderChanges(options: RulesetOptions, changes: StateChanges, to: NftState): Command[] {
  const table: TableRef = { family: "inet", name: options.table };
  const elements = (verb: "add" | "delete", name: SetName, entries: [string, string][]): Command[] =>
    (entries.length > 0 ? [elementCommand(verb, table, name, entries.map(([key, value]) => elementJson(name, key, value, verb === "add" ? to : NO_EXPIRIES)))] : []);
  const removals = changes.sets.flatMap((s) => elements("delete", s.name, s.removed));
  const additions = changes.sets.flatMap((s) => elements("add", s.name, s.added));
  // Counters must exist before elements refer to them and may only go once nothing refers to them.
  return [...changes.counters.added.map((c) => addCounter(table, c)), ...removals, ...additions, ...changes.counters.removed.map((c) => deleteCounter(table, c))];
}

/** A delete names the element without its timeout. */
const NO_EXPIRIES: NftState = { sets: {} as NftState["sets"], counters: new Set(), chains: {}, ruleForms: {} };

/**
 * The same chains with the same rules, doing the same, in the same order (the order of the chains themselves
 * does not matter): only then can an element batch take one state to the other.
 */
export function sameRules(a: NftState, b: NftState): boolean {
  const names = Object.keys(a.chains);
  if (names.length !== Object.keys(b.chains).length) return false;
  return names.every((name) => JSON.stringify(a.chains[name]) === JSON.stringify(b.chains[name])
    && JSON.stringify(a.ruleForms[name]) === JSON.stringify(b.ruleForms[name]));
}
