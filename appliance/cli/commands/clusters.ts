import { unwrap } from "../../../client/src/index.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect } from "../connection.js";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../../terminal/io.js";
import { fields, list, printJson, table } from "../../terminal/output.js";
import { formatApply } from "./status.js";

export const CLUSTERS_USAGE = `usage:
  egw clusters list
  egw clusters show NAME
  egw clusters create NAME --source-range CIDR... --egress-ip ADDRESS... [--excludable-destination CIDR...]
                      [--quota NAME=N...] [--description TEXT] [--wait]
  egw clusters update NAME [--source-range CIDR...] [--egress-ip ADDRESS...] [--excludable-destination CIDR...]
                      [--quota NAME=N...] [--description TEXT] [--wait]
  egw clusters delete NAME [--cascade] [--wait]
  A cluster owns source ranges (its pod CIDRs), may use the egress IPs granted to it, and may exclude
  from translation only destinations inside its excludable destinations (admin token). Repeat list
  options, or separate values with commas. --quota mappings=N, routes=N or destinations=N overrides the
  daemon's default for this cluster; NAME=default drops the override. update replaces only what is
  given; delete --cascade also removes the cluster's mappings, routes and tokens.

${CONNECTION_USAGE}`;

export const OPTIONS = {
  ...CONNECTION_OPTIONS,
  "source-range": { type: "string", multiple: true },
  "egress-ip": { type: "string", multiple: true },
  "excludable-destination": { type: "string", multiple: true },
  quota: { type: "string", multiple: true },
  description: { type: "string" },
  cascade: { type: "boolean", default: false },
  wait: { type: "boolean", default: false },
} as const;

type QuotaName = "mappings" | "routes" | "destinations";
type QuotaValues = Record<QuotaName, number>;
export interface Cluster {
  name: string;
  description: string;
  sourceRanges: string[];
  egressIps: string[];
  excludableDestinations?: string[];
  quotas?: Partial<QuotaValues>;
  effectiveQuotas?: QuotaValues;
  usage?: QuotaValues;
}
const QUOTA_NAMES: QuotaName[] = ["mappings", "routes", "destinations"];
interface GatewayState { name: string; role: string; appliedRevision: number; inSync: boolean; lastApply: Parameters<typeof formatApply>[0] }
interface ClusterStatus { cluster: string; revision: number; mappings: number; routes: number; gateways: GatewayState[] }

/** Repeated options and comma-separated values both make a list. */
export function splitList(values: string[] | undefined): string[] | undefined {
  return values?.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

/** --quota NAME=N (or NAME=default) applied to the current overrides. */
export function applyQuotaOptions(current: Partial<QuotaValues>, options: string[] | undefined): Partial<QuotaValues> {
  const quotas = { ...current };
  for (const option of splitList(options) ?? []) {
    const match = /^(mappings|routes|destinations)=(default|\d{1,7})$/.exec(option);
    if (!match) throw new UsageError(`--quota ${JSON.stringify(option)}: use mappings=N, routes=N or destinations=N (or NAME=default)`, CLUSTERS_USAGE);
    const name = match[1] as QuotaName;
    if (match[2] === "default") delete quotas[name];
    else quotas[name] = Number(match[2]);
  }
  return quotas;
}

/** "used of limit" per quota; an override of the daemon's default is marked "(set)". */
export function formatQuotas(cluster: Cluster): string {
  if (!cluster.effectiveQuotas || !cluster.usage) return "-";
  const { effectiveQuotas: limits, usage } = cluster;
  return QUOTA_NAMES.map((name) => `${name} ${usage[name]} of ${limits[name]}${cluster.quotas?.[name] === undefined ? "" : " (set)"}`).join(", ");
}

export function formatClusters(clusters: Cluster[]): string {
  return table(["NAME", "SOURCE RANGES", "EGRESS IPS", "DESCRIPTION"],
    clusters.map((c) => [c.name, list(c.sourceRanges), list(c.egressIps), c.description]));
}

export function formatCluster(cluster: Cluster, status: ClusterStatus): string {
  return `${fields([
    ["name", cluster.name],
    ["description", cluster.description || "-"],
    ["source ranges", list(cluster.sourceRanges)],
    ["egress IPs", list(cluster.egressIps)],
    ["excludable", list(cluster.excludableDestinations)],
    ["quotas", formatQuotas(cluster)],
    ["mappings", String(status.mappings)],
    ["routes", String(status.routes)],
    ["revision", String(status.revision)],
  ])}\n${table(["GATEWAY", "ROLE", "APPLIED", "IN SYNC", "LAST APPLY"],
    status.gateways.map((g) => [g.name, g.role, String(g.appliedRevision), g.inSync ? "yes" : "no", g.lastApply ? formatApply(g.lastApply) : "-"]))}`;
}

export async function clustersCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: [sub, ...pos] } = parseCommandArgs(args, OPTIONS, CLUSTERS_USAGE);
  const wait = values.wait ? "true" as const : undefined;
  const out = (value: unknown, text: string) => (values.json ? printJson(io, value) : io.stdout(text));
  const sourceRanges = splitList(values["source-range"]);
  const egressIps = splitList(values["egress-ip"]);
  const excludable = splitList(values["excludable-destination"]);
  switch (sub) {
    case "list": {
      positionals(pos, [], CLUSTERS_USAGE);
      const { clusters } = await unwrap(connect(values, io.env).GET("/v1/clusters"));
      out({ clusters }, formatClusters(clusters));
      return 0;
    }
    case "show": {
      const [name = ""] = positionals(pos, ["NAME"], CLUSTERS_USAGE);
      const api = connect(values, io.env);
      const cluster = await unwrap(api.GET("/v1/clusters/{name}", { params: { path: { name } } }));
      const status = await unwrap(api.GET("/v1/clusters/{name}/status", { params: { path: { name } } }));
      out({ cluster, status }, formatCluster(cluster, status));
      return 0;
    }
    case "create": {
      const [name = ""] = positionals(pos, ["NAME"], CLUSTERS_USAGE);
      const quotas = applyQuotaOptions({}, values.quota);
      const body = {
        name, sourceRanges: sourceRanges ?? [], egressIps: egressIps ?? [],
        ...(excludable ? { excludableDestinations: excludable } : {}),
        ...(Object.keys(quotas).length > 0 ? { quotas } : {}),
        ...(values.description !== undefined ? { description: values.description } : {}),
      };
      const created = await unwrap(connect(values, io.env).POST("/v1/clusters", { params: { query: { wait } }, body }));
      out(created, `created cluster ${created.name}\n${formatClusters([created])}`);
      return 0;
    }
    case "update": {
      const [name = ""] = positionals(pos, ["NAME"], CLUSTERS_USAGE);
      if (!sourceRanges && !egressIps && !excludable && !values.quota && values.description === undefined) {
        throw new UsageError("update needs --source-range, --egress-ip, --excludable-destination, --quota or --description", CLUSTERS_USAGE);
      }
      const api = connect(values, io.env);
      // PUT replaces everything: start from the current state so that an option not given keeps its value.
      // If-Match: a change made by someone else between the read and the write is refused (412), not overwritten.
      const read = await api.GET("/v1/clusters/{name}", { params: { path: { name } } });
      const current = await unwrap(Promise.resolve(read));
      const etag = read.response.headers.get("etag");
      const body = {
        description: values.description ?? current.description,
        sourceRanges: sourceRanges ?? current.sourceRanges,
        egressIps: egressIps ?? current.egressIps,
        excludableDestinations: excludable ?? current.excludableDestinations ?? [],
        quotas: applyQuotaOptions(current.quotas ?? {}, values.quota),
      };
      const header = etag === null ? {} : { "if-match": etag };
      const updated = await unwrap(api.PUT("/v1/clusters/{name}", { params: { path: { name }, query: { wait }, header }, body }));
      out(updated, `updated cluster ${updated.name}\n${formatClusters([updated])}`);
      return 0;
    }
    case "delete": {
      const [name = ""] = positionals(pos, ["NAME"], CLUSTERS_USAGE);
      const query = { cascade: values.cascade ? "true" as const : undefined, wait };
      await unwrap(connect(values, io.env).DELETE("/v1/clusters/{name}", { params: { path: { name }, query } }));
      out({ deleted: name }, `deleted cluster ${name}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? "missing subcommand" : `unknown subcommand ${JSON.stringify(sub)}`, CLUSTERS_USAGE);
  }
}
