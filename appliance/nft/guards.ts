import {
  dport, etherSaddr, meta, saddr, daddr, type ChainSpec, type Expr, type RuleSpec, type SetSpec, type Statement,
} from "./json.js";

/**
 * The guards in our table that protect the gateway from hosts on its own links: source binding (a node may
 * only send from the pod ranges routed to it), the fail-closed mark, and the peer guard (VRRP, connection
 * sync and replication only from the peer). Every drop is counted in a named counter `guard_<name>`.
 */

/** Source binding: pods of a route must arrive from its next hop's MAC. */
export type SourceBinding = "next-hop" | "off";

/** The HA peer's sync-link identity and the ports only it may reach (a single gateway has none). */
export interface PeerGuard {
  syncInterface: string;
  /** Our own address on the sync link; the family (IPv4 or IPv6) of both addresses selects ip or ip6. */
  localAddress: string;
  peerAddress: string;
  conntrackdPort: number;
  replicationPort: number;
}

export const GUARD_PREFIX = "guard_";
export type GuardName = "spoofed" | "vrrp" | "conntrackd" | "replication";
export const guardCounter = (guard: GuardName): string => `${GUARD_PREFIX}${guard}`;

const VRRP = 112;

/** The named counters the guards of these options count into. */
export function guardCounters(options: { sourceBinding?: SourceBinding | undefined; peerGuard?: PeerGuard | undefined }): string[] {
  const names: GuardName[] = [];
  if (options.sourceBinding === "next-hop") names.push("spoofed");
  if (options.peerGuard) names.push("vrrp", "conntrackd", "replication");
  return names.map(guardCounter);
}

/**
 * Offenders recorded from the packet path (MAC and claimed source of every refused new connection). They
 * are evidence, not configuration: the readback ignores their contents, and the size bounds what a flood
 * of forged sources can make the kernel hold. The set is "dynamic" (writable from the packet path): nft
 * adds that flag itself because a rule updates the set (nft 1.0.6's JSON parser does not accept it).
 */
export const SPOOFED_SETS: SetSpec[] = (["v4", "v6"] as const).map((v) => ({
  name: `spoofed_${v}`,
  type: ["ether_addr", v === "v4" ? "ipv4_addr" : "ipv6_addr"],
  flags: ["timeout"],
  timeout: 3600,
  size: 65536,
}));

/**
 * Only new connections are checked: one lookup in `claimed` and, for claimed sources, one in `bound` per
 * connection; packets of established connections never get here (the forward chain accepts them first, see
 * ruleset.ts). The residual is blind injection into a connection that already exists (the forger must guess its
 * ports and sequence). The rules sit behind the forward chain's gate, so every packet reaching them came in by
 * the inside interface. The source test comes first: its family check is what ends the rule at once for a packet
 * of the other family.
 */
export function spoofGuardRules(): RuleSpec[] {
  return (["v4", "v6"] as const).map((v) => {
    const p = v === "v4" ? "ip" : "ip6";
    const key: Expr = { concat: [etherSaddr, saddr(p)] };
    return {
      chain: "forward",
      comment: `egw:spoof-guard-${v}`,
      expr: [
        { match: { op: "==", left: saddr(p), right: `@claimed_${v}` } },
        { match: { op: "in", left: { ct: { key: "state" } }, right: "new" } },
        { match: { op: "!=", left: key, right: `@bound_${v}` } },
        { set: { op: "update", elem: key, set: `@spoofed_${v}` } },
        { counter: guardCounter("spoofed") },
        { drop: null },
      ],
    };
  });
}

/**
 * Every packet from the inside gets our mark bit. A policy rule outside this table black-holes forwarded
 * inside traffic without the bit, so if this table disappears, pods are cut off instead of leaving with
 * their own addresses. It sits in the prerouting chain we already have: one more base chain would cost
 * a traversal per packet. Nothing else in that chain concerns a packet from the inside (the rest counts what
 * arrives from the outside), so it ends the chain there: accept ends this chain only, every other hook still runs.
 */
export function markRule(insideInterface: string, mark: number): RuleSpec {
  const markExpr: Expr = meta("mark");
  return {
    chain: "count_in",
    comment: "egw:mark-from-inside",
    expr: [
      { match: { op: "==", left: meta("iifname"), right: insideInterface } },
      { mangle: { key: markExpr, value: { "|": [markExpr, mark] } } },
      { accept: null },
    ],
  };
}

/**
 * Packets from the outside carry the same bit, for the kernel's reverse-path check. For a forwarded packet it looks
 * the source up as if the packet had come in by the interface it leaves by — for a reply to a pod, the inside — and
 * the fail-closed rule would answer that lookup (blackhole), so loose or strict rp_filter on the outside interface
 * would drop every reply to every pod. With `src_valid_mark` on the outside interface (the daemon sets it) the lookup
 * carries this mark and passes; without our table there is no mark and replies fail closed too.
 */
export function replyMarkRule(outsideInterface: string, mark: number): RuleSpec {
  const markExpr: Expr = meta("mark");
  return {
    chain: "count_in",
    comment: "egw:mark-from-outside",
    expr: [
      { match: { op: "==", left: meta("iifname"), right: outsideInterface } },
      { mangle: { key: markExpr, value: { "|": [markExpr, mark] } } },
    ],
  };
}

/** Policy accept: the chain only ever decides about VRRP, the sync port and the replication port. */
export const INPUT_CHAIN: ChainSpec = { name: "input", type: "filter", hook: "input", prio: 0, policy: "accept" };

export function peerGuardRules(guard: PeerGuard): RuleSpec[] {
  const p = guard.localAddress.includes(":") ? "ip6" : "ip";
  const fromPeer: Statement[] = [
    { match: { op: "==", left: meta("iifname"), right: guard.syncInterface } },
    { match: { op: "==", left: saddr(p), right: guard.peerAddress } },
    { match: { op: "==", left: daddr(p), right: guard.localAddress } },
  ];
  const dropCounted = (name: GuardName): Statement[] => [{ counter: guardCounter(name) }, { drop: null }];
  const udpPort: Statement = { match: { op: "==", left: dport("udp"), right: guard.conntrackdPort } };
  const tcpPort: Statement = { match: { op: "==", left: dport("tcp"), right: guard.replicationPort } };
  const vrrp: Statement = { match: { op: "==", left: meta("l4proto"), right: VRRP } };
  return [
    { chain: "input", comment: "egw:vrrp-from-peer", expr: [...fromPeer, vrrp, { accept: null }] },
    // meta l4proto also finds VRRP behind IPv6 extension headers, so one rule covers both families.
    { chain: "input", comment: "egw:vrrp-guard", expr: [vrrp, ...dropCounted("vrrp")] },
    { chain: "input", comment: "egw:conntrackd-from-peer", expr: [...fromPeer, udpPort, { accept: null }] },
    { chain: "input", comment: "egw:conntrackd-guard", expr: [udpPort, ...dropCounted("conntrackd")] },
    { chain: "input", comment: "egw:replication-from-peer", expr: [...fromPeer, tcpPort, { accept: null }] },
    { chain: "input", comment: "egw:replication-guard", expr: [tcpPort, ...dropCounted("replication")] },
  ];
}
