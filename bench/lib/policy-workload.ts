import type { EgressPolicy, Mapping, PolicyRule } from "../../appliance/model.js";
import type { MappingPolicyInput } from "../../appliance/policy/compile.js";
import { BENCH_ADDR } from "./bench-topology.js";

/**
 * Egress policies as tenants write them, in bulk, for the policy benchmarks: allow rules toward distinct hosts and
 * /24s with one TCP service port each, plus the one rule that allows the benchmark's own traffic (the server, UDP,
 * any port: the flood's destination ports are random). Destinations never touch each other, so the compiler
 * cannot merge them and every destination is one kernel element.
 */
const SERVICE_PORTS = [443, 5432, 6379, 9092, 3306, 27017, 8443, 25];

const intToIp = (value: number) => [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");

/** Destination n: even n a host in 198.18.0.0/15, odd n a /24 in 100.64.0.0/10, with gaps between neighbours. */
export function destination(n: number): string {
  const half = Math.floor(n / 2);
  if (n % 2 === 0) return `${intToIp(((198 << 24) >>> 0) + (18 << 16) + 3 * half)}/32`;
  return `${intToIp(((100 << 24) >>> 0) + (64 << 16) + 2 * half * 256)}/24`;
}

const fillerRule = (first: number, count: number): PolicyRule => ({
  description: `service ${first}`,
  destinations: Array.from({ length: count }, (_, i) => ({ cidr: destination(first + i) })),
  protocol: "tcp",
  ports: [{ port: SERVICE_PORTS[first % SERVICE_PORTS.length] as number }],
});

/** The rule the measured traffic is allowed by, with `extra` more destinations beside the server. */
const serverRule = (extra: string[]): PolicyRule => ({
  description: "the benchmark server, any UDP port",
  destinations: [{ cidr: `${BENCH_ADDR.server}/32` }, ...extra.map((cidr) => ({ cidr }))],
  protocol: "udp",
  ports: [],
});

/** A rule of its own for change n of the change loop: one host outside every workload destination. */
export const changeRule = (n: number): PolicyRule => ({ description: `change ${n}`, destinations: [{ cidr: destination(1_000_000 + 2 * n) }], protocol: "tcp", ports: [{ port: 443 }] });

const enforce = (rules: PolicyRule[]): EgressPolicy => ({ mode: "enforce", defaultAction: "deny", rules });

export interface PolicyLayout {
  id: string;
  title: string;
  policies: MappingPolicyInput[];
  /** The mapping the benchmark's traffic comes from, and the index of the rule that allows it. */
  own: { mapping: string; rule: number };
  rules: number;
  destinations: number;
}

const clientMapping = (mappings: readonly Mapping[]): Mapping => {
  const found = mappings.find((m) => m.sourceCidr === BENCH_ADDR.clientPrefix);
  if (!found) throw new Error("the client's mapping is not among the mappings");
  return found;
};

const input = (m: Mapping, policy: EgressPolicy): MappingPolicyInput => ({ cluster: m.cluster, mapping: m.name, sourceCidr: m.sourceCidr, policy });

/** `perMapping` one-destination rules on every mapping; the client's last rule allows the traffic. */
export function spreadLayout(mappings: readonly Mapping[], perMapping: number): PolicyLayout {
  const own = clientMapping(mappings);
  let next = 0;
  const policies = mappings.map((m) => {
    const count = m === own ? perMapping - 1 : perMapping;
    const rules = Array.from({ length: count }, () => fillerRule(next++, 1));
    return input(m, enforce(m === own ? [...rules, serverRule([])] : rules));
  });
  const rules = perMapping * mappings.length;
  return {
    id: "spread", title: `${rules.toLocaleString("en")} rules, ${perMapping} on each of ${mappings.length} mappings`,
    policies, own: { mapping: own.name, rule: perMapping - 1 }, rules, destinations: rules,
  };
}

/** The client's mapping alone carries `destinations`, `perRule` to a rule (the API allows 1,000 rules a policy: keep room for one more). */
export function ownMappingLayout(mappings: readonly Mapping[], destinations: number, perRule: number): PolicyLayout {
  const own = clientMapping(mappings);
  const count = Math.ceil(destinations / perRule);
  const rules = Array.from({ length: count - 1 }, (_, i) => fillerRule(i * perRule, perRule));
  const rest = destinations - (count - 1) * perRule - 1;
  const extra = Array.from({ length: rest }, (_, i) => destination((count - 1) * perRule + i));
  return {
    id: "own-mapping", title: `${destinations.toLocaleString("en")} destinations in ${count.toLocaleString("en")} rules of the traffic's own mapping`,
    policies: [input(own, enforce([...rules, serverRule(extra)]))], own: { mapping: own.name, rule: count - 1 }, rules: count, destinations,
  };
}
