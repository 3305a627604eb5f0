import { z } from "@hono/zod-openapi";
import { floorRuleInput, policyDestination, policyPort, policyProtocol } from "../../appliance/schemas/policy-inputs.js";

export { floorInput, policyInput } from "../../appliance/schemas/policy-inputs.js";

const policyRule = z.object({
  description: z.string(),
  destinations: z.array(policyDestination),
  protocol: policyProtocol.optional(),
  ports: z.array(policyPort),
}).openapi("PolicyRule");

export const egressPolicy = z.object({
  mode: z.enum(["enforce", "audit"]),
  defaultAction: z.enum(["deny", "allow"]),
  rules: z.array(policyRule),
}).openapi("EgressPolicy");

export const storedPolicy = z.object({
  revision: z.number().int().optional().openapi({ description: "After a write: the store's revision that holds it." }),
  scope: z.enum(["mapping", "cluster"]).openapi({ description: "mapping: the mapping's own policy; cluster: the cluster's default for mappings without one." }),
  policy: egressPolicy,
}).openapi("StoredPolicy");

export const policyFloor = z.object({
  revision: z.number().int().optional(),
  scope: z.enum(["global", "cluster"]),
  rules: z.array(floorRuleInput.extend({ description: z.string(), ports: z.array(policyPort) })),
}).openapi("PolicyFloor");

const ruleUse = z.object({
  index: z.number().int(),
  description: z.string(),
  connections: z.number().int().nullable().openapi({ description: "New connections this rule allowed first (null: the data plane's counters are unavailable)." }),
});

const nameStatus = z.object({
  name: z.string(),
  state: z.enum(["pending", "resolved", "failing"]),
  addresses: z.array(z.object({ address: z.string(), expiresAt: z.string() })),
  lastAnswerAt: z.string().nullable(),
  lastError: z.string().nullable(),
  consecutiveFailures: z.number().int(),
  nextRefreshAt: z.string().nullable(),
}).openapi("PolicyNameStatus");

export const mappingPolicyState = z.object({
  mapping: z.string(),
  scope: z.enum(["mapping", "cluster"]),
  mode: z.enum(["enforce", "audit"]),
  defaultAction: z.enum(["deny", "allow"]),
  rules: z.array(ruleUse),
  unmatched: z.number().int().nullable().openapi({ description: "New connections no rule allowed: denied (enforce, deny), passed and logged (audit), or passed (allow)." }),
}).openapi("MappingPolicyState");

export const clusterPolicyOverview = z.object({
  cluster: z.string(),
  defaultPolicy: egressPolicy.nullable(),
  mappings: z.array(mappingPolicyState).openapi({ description: "Every mapping that a policy governs, with what it counted on this gateway." }),
  floors: z.object({
    global: z.array(z.object({ index: z.number().int(), description: z.string(), connections: z.number().int().nullable() })),
    cluster: z.array(z.object({ index: z.number().int(), description: z.string(), connections: z.number().int().nullable() })),
  }).openapi({ description: "New connections from this cluster's sources that each floor rule refused (global rules count every cluster's)." }),
  names: z.array(nameStatus).openapi({ description: "The DNS names the cluster's policies use, as this gateway resolves them." }),
}).openapi("ClusterPolicyOverview");

export const policyEvent = z.object({
  at: z.string(),
  verdict: z.enum(["denied", "audited", "floor-denied"]),
  cluster: z.string().nullable(),
  mapping: z.string().nullable(),
  source: z.string(),
  destination: z.string(),
  protocol: z.string(),
  destinationPort: z.number().int().nullable(),
}).openapi("PolicyEvent");

