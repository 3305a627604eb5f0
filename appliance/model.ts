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
