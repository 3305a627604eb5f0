import { z } from "@hono/zod-openapi";
import { cidr, description } from "./inputs.js";

/**
 * The shapes of egress policies and floors as clients send them. Shapes and bounds only: prefixes, DNS names,
 * port order and the protocol/port pairing are checked in full by appliance/service/policy-check.ts, which names
 * the field of every problem.
 */
export const POLICY_LIMITS = {
  rulesPerPolicy: 1000,
  destinationsPerRule: 64,
  exceptPerDestination: 64,
  portsPerRule: 32,
  namesPerPolicy: 64,
  /** Destinations and exceptions over all rules of a policy: what the checks (floors above all) walk synchronously. */
  prefixesPerPolicy: 20_000,
  /** Kernel elements one mapping's policy may expand to (prefixes × protocols × port ranges, after carving). */
  elementsPerMapping: 20_000,
  floorRules: 1000,
} as const;

export const policyProtocol = z.enum(["tcp", "udp", "sctp", "icmp"])
  .openapi({ description: "Left out: every protocol (then no ports). ICMP is ICMPv6 for IPv6 mappings; it has no ports." });

export const policyPort = z.strictObject({
  port: z.number().int().openapi({ example: 443, description: "1-65535" }),
  endPort: z.number().int().optional().openapi({ description: "With it, the inclusive range port..endPort (endPort ≥ port)." }),
}).openapi("PolicyPort");

export const policyDestination = z.strictObject({
  cidr: cidr.optional().openapi({ description: "A prefix (no host bits), IPv4 or IPv6 as the mapping's source." }),
  except: z.array(cidr).max(POLICY_LIMITS.exceptPerDestination).optional()
    .openapi({ description: "Prefixes inside `cidr` carved out of it (NetworkPolicy's ipBlock.except)." }),
  name: z.string().min(1).max(254).optional()
    .openapi({ example: "api.example.com", description: "A DNS name the gateway resolves (A and AAAA), or `*.zone`: what the zone's wildcard record answers. Exactly one of cidr and name." }),
}).openapi("PolicyDestination");

export const policyRuleInput = z.strictObject({
  description: description.optional(),
  destinations: z.array(policyDestination).min(1).max(POLICY_LIMITS.destinationsPerRule),
  protocol: policyProtocol.optional(),
  ports: z.array(policyPort).max(POLICY_LIMITS.portsPerRule).optional()
    .openapi({ description: "Left out or empty: every port. Only with tcp, udp or sctp." }),
}).openapi("PolicyRuleInput");

export const policyInput = z.strictObject({
  mode: z.enum(["enforce", "audit"]).default("enforce")
    .openapi({ description: "enforce: what no rule allows meets defaultAction. audit: it passes, and what would be denied is counted and logged." }),
  defaultAction: z.enum(["deny", "allow"]).default("deny")
    .openapi({ description: "What happens to a new connection that no rule allows." }),
  rules: z.array(policyRuleInput).max(POLICY_LIMITS.rulesPerPolicy)
    .openapi({ description: `Allow rules, at most ${POLICY_LIMITS.rulesPerPolicy}. A connection is counted on the first rule that allows it.` }),
}).openapi("PolicyInput");

export const floorRuleInput = z.strictObject({
  description: description.optional(),
  destinations: z.array(policyDestination.omit({ name: true })).min(1).max(POLICY_LIMITS.destinationsPerRule),
  protocol: policyProtocol.optional(),
  ports: z.array(policyPort).max(POLICY_LIMITS.portsPerRule).optional(),
}).openapi("FloorRuleInput");

export const floorInput = z.strictObject({
  rules: z.array(floorRuleInput).max(POLICY_LIMITS.floorRules)
    .openapi({ description: "What no policy may allow: the data plane refuses it before any policy is looked at." }),
}).openapi("FloorInput");

export type PolicyInput = z.input<typeof policyInput>;
export type FloorInput = z.input<typeof floorInput>;
