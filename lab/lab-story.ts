// The configuration the lab demonstrates: what the network team and a cluster's automation register
// through the REST API. `egw lab up` applies it quietly; `egw lab demo` applies it step by step.
import type { ApiResponse } from "./daemon.js";
import { ADDR, type PodName } from "./topology.js";

export const CLUSTER = "prod-eu1";

export interface StoryPod {
  pod: PodName;
  /** The Kubernetes namespace the pod stands for. */
  namespace: string;
  address: string;
  cidr: string;
  mapping: string;
  egressIp: string;
}

/** Two applications, each with its own pod CIDR and egress IP. */
export const MAPPED_PODS: StoryPod[] = [
  { pod: "a", namespace: "erp", address: ADDR.pods.a.v4, cidr: ADDR.pods.a.cidr4, mapping: "erp", egressIp: "203.0.113.10" },
  { pod: "b", namespace: "billing", address: ADDR.pods.b.v4, cidr: ADDR.pods.b.cidr4, mapping: "billing", egressIp: "203.0.113.11" },
];

/** A pod of the same cluster with no mapping: its traffic must not leave at all. */
export const UNMAPPED_POD = { pod: "c" as PodName, namespace: "batch", address: ADDR.pods.c.v4 };

export type Api = (method: string, path: string, body?: unknown, token?: string) => Promise<ApiResponse>;

/** Prints one API call and its answer; the demo passes a printer, `lab up` a no-op. */
export type Trace = (line: string) => void;

function compact(value: unknown, max = 240): string {
  const text = JSON.stringify(value) ?? "";
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Calls the API, prints the request and the answer, and fails on an error status. */
export async function traced(api: Api, trace: Trace, method: string, path: string, body?: unknown, token?: string): Promise<unknown> {
  trace(`   → ${method} ${path}${body === undefined ? "" : `  ${compact(body)}`}${token ? "   (cluster token)" : ""}`);
  const response = await api(method, path, body, token);
  const shown = response.body && typeof response.body === "object" && "token" in response.body
    ? { ...(response.body as object), token: "egw_… (shown once)" } : response.body;
  trace(`   ← ${response.status} ${response.body === undefined ? "" : compact(shown)}`);
  if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${compact(response.body, 1000)}`);
  return response.body;
}

/** The network team's part (admin token): egress IPs, and the cluster with its source range and egress IPs. */
export async function registerAsAdmin(api: Api, trace: Trace): Promise<{ clusterToken: string }> {
  for (const pod of MAPPED_PODS) {
    await traced(api, trace, "POST", "/v1/egress-ips", { address: pod.egressIp, description: `${pod.namespace} (${CLUSTER})` });
  }
  await traced(api, trace, "POST", "/v1/clusters", {
    name: CLUSTER, description: "the lab's cluster", sourceRanges: [ADDR.podRange.v4], egressIps: MAPPED_PODS.map((p) => p.egressIp),
  });
  const issued = (await traced(api, trace, "POST", `/v1/clusters/${CLUSTER}/tokens`, { description: "cluster automation" })) as { token: string };
  return { clusterToken: issued.token };
}

/** The cluster automation's part (its own token): one mapping per application, and the route back to the node. */
export async function registerAsCluster(api: Api, trace: Trace, clusterToken: string): Promise<void> {
  await traced(api, trace, "PUT", `/v1/clusters/${CLUSTER}/mappings?wait=true`, {
    mappings: MAPPED_PODS.map((p) => ({ name: p.mapping, sourceCidr: p.cidr, egressIp: p.egressIp, labels: { namespace: p.namespace } })),
  }, clusterToken);
  await traced(api, trace, "PUT", `/v1/clusters/${CLUSTER}/routes?wait=true`, {
    routes: [{ prefix: ADDR.podRange.v4, via: ADDR.node.v4 }],
  }, clusterToken);
}
