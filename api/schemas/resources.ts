import { z } from "@hono/zod-openapi";
import { QUOTA_MAX } from "../../appliance/service/quotas.js";
import { mappingInput, routeInput } from "../../appliance/schemas/inputs.js";
import { cidr, description, dnsLabel, ipAddress } from "./common.js";

export { mappingInput, routeInput };

// ---- egress IPs ----
export const egressIpCreate = z.strictObject({
  address: ipAddress,
  description: description.optional(),
}).openapi("EgressIpCreate");

export const egressIpUpdate = z.strictObject({ description }).openapi("EgressIpUpdate");

export const egressIp = z.object({
  address: ipAddress,
  family: z.union([z.literal(4), z.literal(6)]),
  description: z.string(),
  cluster: z.string().nullable().openapi({ description: "The one cluster allowed to use this egress IP, if any." }),
}).openapi("EgressIp");

// ---- clusters ----
const quotaValue = z.number().int().min(1).max(QUOTA_MAX);
const quotaOverrides = z.strictObject({
  mappings: quotaValue.optional().openapi({ description: "Mappings the cluster may have (1 to 1,000,000)." }),
  routes: quotaValue.optional().openapi({ description: "Routes the cluster may have (1 to 1,000,000)." }),
  destinations: quotaValue.optional()
    .openapi({ description: "Destination plus excluded-destination prefixes over all the cluster's mappings, each one kernel set element (1 to 1,000,000)." }),
}).openapi("QuotaOverrides", { description: "Per-cluster overrides of the daemon's limits.clusterDefaults; a quota left out takes the default." });

const clusterGrants = {
  description: description.optional(),
  sourceRanges: z.array(cidr).max(1024).default([])
    .openapi({ description: "Pod ranges this cluster owns; its mappings and routes must lie inside them. No two clusters may overlap." }),
  egressIps: z.array(ipAddress).max(1024).default([])
    .openapi({ description: "Egress IPs this cluster may map to. Each egress IP belongs to at most one cluster." }),
  excludableDestinations: z.array(cidr).max(1024).default([])
    .openapi({ description: "Prefixes this cluster's mappings may list in excludedDestinations (traffic that leaves with pod addresses). Default none. Entries must not overlap." }),
  quotas: quotaOverrides.default({})
    .openapi({ description: "Per-cluster overrides of the daemon's limits.clusterDefaults; a quota left out takes the default." }),
};

export const clusterCreate = z.strictObject({ name: dnsLabel.openapi({ example: "prod-eu1" }), ...clusterGrants }).openapi("ClusterCreate");
export const clusterReplace = z.strictObject(clusterGrants).openapi("ClusterReplace");

const quotaValues = z.object({ mappings: z.number().int(), routes: z.number().int(), destinations: z.number().int() });

export const cluster = z.object({
  name: z.string(),
  description: z.string(),
  sourceRanges: z.array(z.string()),
  egressIps: z.array(z.string()),
  excludableDestinations: z.array(z.string()),
  quotas: z.object({ mappings: z.number().int().optional(), routes: z.number().int().optional(), destinations: z.number().int().optional() })
    .openapi({ description: "The overrides set for this cluster, as a PUT takes them." }),
  effectiveQuotas: quotaValues.openapi({ description: "The quotas in force: the overrides over the daemon's defaults." }),
  usage: quotaValues.openapi({ description: "What the cluster holds now, counted as the quotas count it." }),
}).openapi("Cluster");

// ---- tokens ----
export const tokenCreate = z.strictObject({ description: description.optional() }).openapi("TokenCreate");

export const tokenInfo = z.object({
  id: z.string(),
  cluster: z.string(),
  description: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
}).openapi("Token");

export const issuedToken = tokenInfo.extend({
  token: z.string().openapi({ description: "The bearer token. Shown only in this response; only its hash is stored." }),
}).openapi("IssuedToken");

// ---- mappings ----
export const mapping = z.object({
  name: z.string(),
  sourceCidr: z.string(),
  egressIp: z.string(),
  destinations: z.array(z.string()),
  excludedDestinations: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
}).openapi("Mapping");

export const mappingSet = z.strictObject({ mappings: z.array(mappingInput).max(200_000) }).openapi("MappingSet");

// ---- routes ----
export const route = z.object({ prefix: z.string(), via: z.string() }).openapi("Route");
export const routeSet = z.strictObject({ routes: z.array(routeInput).max(100_000) }).openapi("RouteSet");

// ---- status ----
export const applyReport = z.object({
  revision: z.number().int(),
  ok: z.boolean(),
  at: z.string(),
  durationMs: z.number(),
  kind: z.enum(["none", "incremental", "full"]),
  error: z.string().optional(),
  isolated: z.array(z.object({ cluster: z.string(), error: z.string() })).optional()
    .openapi({ description: "Clusters whose latest change the kernel refused: they keep their last applied rules while everyone else's changes apply." }),
  unresolvedNextHops: z.array(z.string()).optional()
    .openapi({ description: "Route next hops whose MAC address is not known yet: traffic from their pods is dropped by source binding until it is." }),
}).openapi("ApplyReport");

export const gatewayState = z.object({
  name: z.string(),
  role: z.enum(["standalone", "master", "backup", "fault", "unknown"]),
  appliedRevision: z.number().int(),
  inSync: z.boolean(),
  lastApply: applyReport.nullable(),
}).openapi("GatewayState");

/** The replication protocol versions a gateway speaks, oldest to newest (see docs/high-availability.md). */
const replicationProtocol = z.object({ oldest: z.number().int(), newest: z.number().int() });

/** A peer in /v1/status: its state as a cluster sees it, and how replication to it goes (the admin's business only). */
export const peerState = z.object({
  ...gatewayState.shape,
  replication: z.enum(["unknown", "in-sync", "behind", "unreachable", "refused", "incompatible"])
    .openapi({ description: "Replication to this peer, as the leader sees it. `incompatible`: the peer speaks no replication protocol version this gateway speaks, so nothing is sent to it (see `replicationError`)." }),
  replicationError: z.string().nullable().openapi({ description: "Why the last replication to this peer failed or was refused; null when it succeeded." }),
  replicationProtocol: replicationProtocol.nullable()
    .openapi({ description: "`{oldest, newest}`: the replication protocol versions the peer says it speaks; null until it has answered or sent a message since this gateway started." }),
}).openapi("PeerState");

export const clusterStatus = z.object({
  cluster: z.string(),
  revision: z.number().int(),
  mappings: z.number().int(),
  routes: z.number().int(),
  gateways: z.array(gatewayState),
}).openapi("ClusterStatus");

export const systemStatus = z.object({
  gateway: z.string(),
  role: gatewayState.shape.role,
  version: z.string().openapi({ description: "The egw release running on this gateway (the installed package's version, as `egw --version` prints it)." }),
  replicationProtocol: replicationProtocol.optional()
    .openapi({ description: "With HA, `{oldest, newest}`: the replication protocol versions this gateway speaks. Two gateways replicate only if they share one." }),
  revision: z.number().int(),
  appliedRevision: z.number().int(),
  inSync: z.boolean(),
  lastApply: applyReport.nullable(),
  peers: z.array(peerState),
  translationLog: z.object({
    state: z.enum(["running", "not-running", "disk-full", "stopped", "store-error", "failed"])
      .openapi({ description: "running: every translation is being recorded; not-running: ulogd is not running; disk-full, store-error: stopped until they pass; failed: the log could not start (see error); in every state but running a gap is open (see GET /v1/translations)" }),
    error: z.string().optional().openapi({ description: "With state failed: why the log could not start" }),
    lagMs: z.number().openapi({ description: "How far the log is behind the kernel's events" }),
    spoolBytesBehind: z.number(),
    eventsIngested: z.number(),
    eventsUnattributed: z.number(),
    eventsMalformed: z.number(),
    recoveredNewEvents: z.number(),
    lastEventAt: z.string().nullable(),
    sizeBytes: z.number(),
    directory: z.string(),
    exports: z.record(z.string(), z.object({ exported: z.number(), dropped: z.number(), queued: z.number(), error: z.string().nullable() }).passthrough())
      .openapi({ description: "Per configured export (jsonLines, syslog): records exported, dropped (queue full), waiting, and the current failure" }),
  }).optional().openapi({ description: "With translationLog.enabled: the translation log's state" }),
  warnings: z.array(z.string()),
}).openapi("SystemStatus");

// ---- one mapping, by name ----
export const mappingReplace = mappingInput.extend({ name: mappingInput.shape.name.optional() }).openapi("MappingReplace");
/** Validated as a whole mapping once merged (appliance/service/mappings.ts patchMapping); here only its shape. */
export const mappingPatch = z.strictObject({
  sourceCidr: z.string().nullable().optional(),
  egressIp: z.string().nullable().optional(),
  destinations: z.array(z.string()).nullable().optional(),
  excludedDestinations: z.array(z.string()).nullable().optional(),
  labels: z.record(z.string(), z.string().nullable()).nullable().optional(),
}).openapi("MappingPatch", { description: "JSON merge patch (RFC 7396) of a mapping: the members to change; null removes one." });
