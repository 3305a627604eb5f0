import { stringify as toYaml } from "yaml";
import { AppError } from "../../errors.js";
import { unwrap, type paths } from "../../../client/src/index.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect } from "../connection.js";
import { readDocument } from "../document-file.js";
import { parseCommandArgs, UsageError, type CliIo } from "../../terminal/io.js";
import { printJson, table } from "../../terminal/output.js";

export const POLICY_USAGE = `usage:
  egw policy show CLUSTER [MAPPING]          without MAPPING: every governed mapping with its counts, the DNS
                                             names and the floors; with it: the mapping's own policy
  egw policy apply CLUSTER [MAPPING] -f FILE [--wait]
                                             set the mapping's policy, or without MAPPING the cluster's default
  egw policy delete CLUSTER [MAPPING] [--wait]
  egw policy events CLUSTER                  the latest connections the policy refused (or audit would refuse)
  egw floor show [CLUSTER]                   the global floor, or a cluster's
  egw floor apply [CLUSTER] -f FILE [--wait] (admin)
  egw floor delete [CLUSTER] [--wait]        (admin)
  FILE is YAML or JSON ("-" reads stdin): a policy {mode, defaultAction, rules: [{destinations: [{cidr, except} |
  {name}], protocol, ports: [{port, endPort}]}]}, or a floor {rules: [...]} (see docs/policy.md).

${CONNECTION_USAGE}`;

export const OPTIONS = {
  ...CONNECTION_OPTIONS,
  file: { type: "string", short: "f" },
  wait: { type: "boolean", default: false },
} as const;

interface RuleUse { index: number; description: string; connections: number | null }
interface Overview {
  cluster: string;
  defaultPolicy: unknown;
  mappings: { mapping: string; scope: string; mode: string; defaultAction: string; rules: RuleUse[]; unmatched: number | null }[];
  floors: { global: RuleUse[]; cluster: RuleUse[] };
  names: { name: string; state: string; addresses: { address: string }[]; lastError: string | null }[];
}
interface PolicyEvent { at: string; verdict: string; mapping: string | null; source: string; destination: string; protocol: string; destinationPort: number | null }

const count = (n: number | null): string => (n === null ? "-" : String(n));

export function formatOverview(o: Overview): string {
  const mappings = table(["MAPPING", "POLICY", "MODE", "NO RULE MATCHED", "RULES", "ALLOWED", "UNMATCHED"], o.mappings.map((m) => [
    m.mapping, m.scope === "mapping" ? "own" : "cluster default", m.mode, m.defaultAction, String(m.rules.length),
    count(m.rules.every((r) => r.connections === null) ? null : m.rules.reduce((sum, r) => sum + (r.connections ?? 0), 0)), count(m.unmatched),
  ]));
  const names = o.names.length === 0 ? "" : `\nDNS names:\n${table(["NAME", "STATE", "ADDRESSES", "ERROR"],
    o.names.map((n) => [n.name, n.state, n.addresses.map((a) => a.address).join(", ") || "-", n.lastError ?? ""]))}`;
  const floors = `\nfloor rules: ${o.floors.global.length} global (refused ${count(sum(o.floors.global))}), ${o.floors.cluster.length} of the cluster (refused ${count(sum(o.floors.cluster))})\n`;
  return `${o.mappings.length === 0 ? "no mapping of this cluster is governed by a policy\n" : mappings}${names}${floors}`;
}

const sum = (rules: RuleUse[]): number | null => (rules.length > 0 && rules.every((r) => r.connections === null) ? null : rules.reduce((s, r) => s + (r.connections ?? 0), 0));

export function formatEvents(events: PolicyEvent[]): string {
  if (events.length === 0) return "no refused connection logged\n";
  return table(["AT", "VERDICT", "MAPPING", "SOURCE", "DESTINATION", "PROTOCOL", "PORT"],
    events.map((e) => [e.at, e.verdict, e.mapping ?? "-", e.source, e.destination, e.protocol, e.destinationPort === null ? "-" : String(e.destinationPort)]));
}

type PolicyBody = NonNullable<paths["/v1/clusters/{name}/policy"]["put"]["requestBody"]>["content"]["application/json"];
type FloorBody = NonNullable<paths["/v1/policy-floor"]["put"]["requestBody"]>["content"]["application/json"];

/** A file's object, sent as the body it claims to be: the daemon checks it and names the offending field. */
function readBody<T>(path: string): T {
  return readObject(path) as T;
}

function readObject(path: string): Record<string, unknown> {
  const raw = readDocument(path);
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new AppError("validation-failed", `${path} must hold an object (a policy or a floor)`);
  // Everything else is checked by the daemon, which names the offending field.
  return raw as Record<string, unknown>;
}

export async function policyCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: [sub, cluster, mapping, ...extra] } = parseCommandArgs(args, OPTIONS, POLICY_USAGE);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, POLICY_USAGE);
  if (cluster === undefined && sub !== undefined) throw new UsageError("missing CLUSTER", POLICY_USAGE);
  const out = (value: unknown, text: string) => (values.json ? printJson(io, value) : io.stdout(text));
  const name = cluster ?? "";
  const query = { wait: values.wait ? "true" as const : undefined };
  const api = () => connect(values, io.env);
  switch (sub) {
    case "show": {
      if (mapping === undefined) {
        const overview = await unwrap(api().GET("/v1/clusters/{name}/policies", { params: { path: { name } } }));
        out(overview, formatOverview(overview));
        return 0;
      }
      const stored = await unwrap(api().GET("/v1/clusters/{name}/mappings/{mapping}/policy", { params: { path: { name, mapping } } }));
      // YAML quotes and escapes any control character in a string itself.
      out(stored, toYaml(stored.policy));
      return 0;
    }
    case "apply": {
      if (!values.file) throw new UsageError("apply needs -f FILE", POLICY_USAGE);
      const body = readBody<PolicyBody>(values.file);
      const result = await unwrap(mapping === undefined
        ? api().PUT("/v1/clusters/{name}/policy", { params: { path: { name }, query }, body })
        : api().PUT("/v1/clusters/{name}/mappings/{mapping}/policy", { params: { path: { name, mapping }, query }, body }));
      out(result, `applied: ${mapping === undefined ? `the default policy of cluster ${cluster}` : `the policy of mapping ${mapping}`} (${result.policy.rules.length} rules) at revision ${result.revision}\n`);
      return 0;
    }
    case "delete": {
      await unwrap(mapping === undefined
        ? api().DELETE("/v1/clusters/{name}/policy", { params: { path: { name }, query } })
        : api().DELETE("/v1/clusters/{name}/mappings/{mapping}/policy", { params: { path: { name, mapping }, query } }));
      out({ deleted: true }, `deleted ${mapping === undefined ? `the default policy of cluster ${cluster}` : `the policy of mapping ${mapping}`}\n`);
      return 0;
    }
    case "events": {
      const { events } = await unwrap(api().GET("/v1/clusters/{name}/policy-events", { params: { path: { name } } }));
      out({ events }, formatEvents(events));
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? "missing subcommand" : `unknown subcommand ${JSON.stringify(sub)}`, POLICY_USAGE);
  }
}

export const FLOOR_USAGE = POLICY_USAGE;

export async function floorCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: [sub, cluster, ...extra] } = parseCommandArgs(args, OPTIONS, FLOOR_USAGE);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, FLOOR_USAGE);
  const out = (value: unknown, text: string) => (values.json ? printJson(io, value) : io.stdout(text));
  const what = cluster === undefined ? "the global floor" : `the floor of cluster ${cluster}`;
  const query = { wait: values.wait ? "true" as const : undefined };
  const api = () => connect(values, io.env);
  switch (sub) {
    case "show": {
      const floor = await unwrap(cluster === undefined
        ? api().GET("/v1/policy-floor")
        : api().GET("/v1/clusters/{name}/policy-floor", { params: { path: { name: cluster } } }));
      out(floor, toYaml({ rules: floor.rules }));
      return 0;
    }
    case "apply": {
      if (!values.file) throw new UsageError("apply needs -f FILE", FLOOR_USAGE);
      const body = readBody<FloorBody>(values.file);
      const result = await unwrap(cluster === undefined
        ? api().PUT("/v1/policy-floor", { params: { query }, body })
        : api().PUT("/v1/clusters/{name}/policy-floor", { params: { path: { name: cluster }, query }, body }));
      out(result, `applied: ${what} (${result.rules.length} rules) at revision ${result.revision}\n`);
      return 0;
    }
    case "delete": {
      await unwrap(cluster === undefined
        ? api().DELETE("/v1/policy-floor", { params: { query } })
        : api().DELETE("/v1/clusters/{name}/policy-floor", { params: { path: { name: cluster }, query } }));
      out({ deleted: true }, `deleted ${what}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? "missing subcommand" : `unknown subcommand ${JSON.stringify(sub)}`, FLOOR_USAGE);
  }
}
