import type { ChainSpec, Expr, RuleSpec, Statement } from "./json.js";
import { daddr, dport, meta, saddr } from "./json.js";
import { POLICY_LOG_PREFIXES, type PolicyVerdict } from "../policy/policy-event.js";

/**
 * The egress policy's part of the table. Every new connection from the inside to the outside jumps to
 * `egress_policy` once (conntrack's NEW: an established connection costs nothing), which makes a constant number of
 * map lookups whatever the number of rules: the global floor, the cluster floors, the allow map (one interval lookup
 * over destination . source . protocol . port, which also counts the first rule that allows), and, only for what no
 * rule allowed, the mapping's unmatched counter and verdict. Mappings without a policy find nothing and pass on.
 * All content lives in sets and maps, so a policy change is an element batch in the same transaction as the NAT
 * change it belongs to, never a rule change.
 */
export interface PolicyLogOptions {
  /** NFLOG group the daemon reads; absent: refusals are counted but not logged. */
  group?: number | undefined;
  /** Log lines per second for each verdict chain (each its own kernel token bucket), and the burst above it. */
  ratePerSecond: number;
  burst: number;
}

export const POLICY_CHAINS: ChainSpec[] = [{ name: "egress_policy" }, { name: "policy_lookup" }, { name: "floor_deny" }, { name: "policy_deny" }, { name: "policy_audit" }];

/** The NFLOG prefix of each verdict chain: the policy log reads the verdict back from it (appliance/policy/policy-event.ts). */
const prefixOf = (verdict: PolicyVerdict): string => {
  const prefix = Object.entries(POLICY_LOG_PREFIXES).find(([, v]) => v === verdict)?.[0];
  if (prefix === undefined) throw new Error(`no log prefix for ${verdict}`);
  return prefix;
};

const thDport: Expr = dport("th");

/** The jump into the policy: last in the forward chain, after the guards and behind its gate (only packets from the inside get there). */
export function policyJumpRule(outsideInterface: string): RuleSpec {
  return {
    chain: "forward", comment: "egw:policy",
    expr: [
      { match: { op: "==", left: meta("oifname"), right: outsideInterface } },
      { match: { op: "in", left: { ct: { key: "state" } }, right: ["new"] } },
      { jump: { target: "egress_policy" } },
    ],
  };
}

export function policyRules(log: PolicyLogOptions): RuleSpec[] {
  const lookups = (v: "v4" | "v6"): RuleSpec[] => {
    const p = v === "v4" ? "ip" : "ip6";
    // Destination first: see appliance/policy/compile.ts (pieceKey) for why the order matters to the kernel's lookup.
    const full: Expr = { concat: [daddr(p), saddr(p), meta("l4proto"), thDport] };
    return [
      { chain: "policy_lookup", comment: `egw:floor-${v}`, expr: [{ counter: { map: { key: { concat: [daddr(p), meta("l4proto"), thDport] }, data: `@floor_${v}` } } }, { jump: { target: "floor_deny" } }] },
      { chain: "policy_lookup", comment: `egw:cluster-floor-${v}`, expr: [{ counter: { map: { key: full, data: `@cluster_floor_${v}` } } }, { jump: { target: "floor_deny" } }] },
      { chain: "policy_lookup", comment: `egw:allow-${v}`, expr: [{ counter: { map: { key: full, data: `@policy_allow_${v}` } } }, { accept: null }] },
      {
        chain: "policy_lookup", comment: `egw:unmatched-${v}`,
        expr: [{ counter: { map: { key: saddr(p), data: `@policy_unmatched_${v}` } } }, { vmap: { key: saddr(p), data: `@policy_verdict_${v}` } }],
      },
    ];
  };
  const name = (chain: string, what: string) => `egw:${chain.replace(/_/g, "-")}-${what}`;
  const logged = (chain: string, prefix: string): RuleSpec[] => (log.group === undefined ? [] : [{
    chain, comment: name(chain, "log"),
    expr: [{ limit: { rate: log.ratePerSecond, per: "second", burst: log.burst } }, { log: { prefix, group: log.group } }],
  }]);
  // Reject rather than drop: the client learns at once (a TCP reset, or ICMP administratively prohibited) instead of
  // retrying into a timeout, and the answer goes only to the inside host that asked.
  const refuse = (chain: string): RuleSpec[] => [
    { chain, comment: name(chain, "reset"), expr: [{ match: { op: "==", left: meta("l4proto"), right: "tcp" } }, { reject: { type: "tcp reset" } }] },
    { chain, comment: name(chain, "reject"), expr: [{ reject: { type: "icmpx", expr: "admin-prohibited" } }] },
  ];
  const pass: Statement = { accept: null };
  return [
    // Every key ends in the transport header's destination port. A packet too short to hold one would make every
    // lookup fail, floors included, and pass: only packets whose port can be read go on to the lookups (goto: what
    // none of them matches returns to the forward chain, not here); the rest are refused as a floor would.
    { chain: "egress_policy", comment: "egw:ports-readable", expr: [{ match: { op: "==", left: thDport, right: { range: [0, 65535] } } }, { goto: { target: "policy_lookup" } }] },
    { chain: "egress_policy", comment: "egw:transport-short", expr: [{ counter: null }, { jump: { target: "floor_deny" } }] },
    ...lookups("v4"),
    // An IPv4 packet none of the IPv4 lookups took can match no IPv6 rule (each begins with the family check): spare
    // it those four. The chain was entered by goto, so return goes back to the forward chain, as falling off its end does.
    { chain: "policy_lookup", comment: "egw:v4-done", expr: [{ match: { op: "==", left: meta("nfproto"), right: "ipv4" } }, { return: null }] },
    ...lookups("v6"),
    ...logged("floor_deny", prefixOf("floor-denied")), ...refuse("floor_deny"),
    ...logged("policy_deny", prefixOf("denied")), ...refuse("policy_deny"),
    ...logged("policy_audit", prefixOf("audited")), { chain: "policy_audit", comment: name("policy_audit", "pass"), expr: [pass] },
  ];
}
