/**
 * The domain as the store and the data plane see it: plain data, canonical text forms, no behaviour.
 * API schemas (api/schemas) describe the same shapes for clients.
 */
export interface EgressIp {
  address: string;
  family: 4 | 6;
  description: string;
  /** The one cluster allowed to use it, if any. */
  cluster: string | null;
}

export interface Cluster {
  name: string;
  description: string;
  sourceRanges: string[];
  egressIps: string[];
  /** Prefixes the admin allows this cluster's mappings to exclude from translation (keeping pod addresses). */
  excludableDestinations: string[];
  /** The admin's per-cluster quota overrides; a missing one takes the daemon's default. */
  quotas: Partial<Quotas>;
}

/** Limits per cluster, and the same shape for its usage. */
export interface Quotas {
  mappings: number;
  routes: number;
  /** Destination plus excluded-destination prefixes over all the cluster's mappings. */
  destinations: number;
}

export interface Mapping {
  cluster: string;
  name: string;
  sourceCidr: string;
  egressIp: string;
  /** When non-empty, translate only traffic toward these prefixes. */
  destinations: string[];
  /** Traffic toward these prefixes leaves untranslated (keeps the pod address). */
  excludedDestinations: string[];
  labels: Record<string, string>;
}

export interface Route {
  cluster: string;
  prefix: string;
  via: string;
}

export interface TokenInfo {
  id: string;
  cluster: string;
  description: string;
  createdAt: string;
  revokedAt: string | null;
}

/** Transport protocols a policy rule may name; absent means every protocol (and then no ports). */
export type PolicyProtocol = "tcp" | "udp" | "sctp" | "icmp";

/**
 * One destination of a rule: a prefix with carve-outs (NetworkPolicy's ipBlock), or a DNS name the daemon resolves
 * (exact, or `*.` plus a zone: what the zone's wildcard record answers). Exactly one of `cidr` and `name`.
 */
export interface PolicyDestination {
  cidr?: string;
  except?: string[];
  name?: string;
}

/** A port or, with endPort, an inclusive range (NetworkPolicy's port/endPort). */
export interface PolicyPort {
  port: number;
  endPort?: number;
}

/** Allows new connections toward any of `destinations`, with `protocol` (any when absent) to any of `ports` (any when empty). */
export interface PolicyRule {
  description: string;
  destinations: PolicyDestination[];
  protocol?: PolicyProtocol;
  ports: PolicyPort[];
}

export interface EgressPolicy {
  /** enforce: what no rule allows meets defaultAction. audit: it passes, and what would be denied is counted and logged. */
  mode: "enforce" | "audit";
  /** What happens to a new connection that no rule allows. */
  defaultAction: "deny" | "allow";
  rules: PolicyRule[];
}

/** A policy as stored: a mapping's own, or (mapping null) the cluster's default for mappings without one. */
export interface StoredPolicy {
  cluster: string;
  mapping: string | null;
  policy: EgressPolicy;
}

/** A floor rule denies: no policy may allow it, and the data plane refuses it before any policy is looked at. */
export interface FloorRule {
  description: string;
  /** Prefixes only (a floor must not move with DNS answers). */
  destinations: PolicyDestination[];
  protocol?: PolicyProtocol;
  ports: PolicyPort[];
}

/** The admin's floor: global (cluster null: every new connection from the inside) or one cluster's. */
export interface PolicyFloor {
  cluster: string | null;
  rules: FloorRule[];
}
