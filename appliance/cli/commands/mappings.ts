import { readSetDocument } from "../document-file.js";
import { unwrap } from "../../../client/src/index.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect } from "../connection.js";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../../terminal/io.js";
import { escapeControl, list, printJson, table } from "../../terminal/output.js";

export const MAPPINGS_USAGE = `usage:
  egw mappings list CLUSTER
  egw mappings apply CLUSTER -f FILE [--dry-run] [--wait]
  egw mappings delete CLUSTER NAME [--wait]
  apply replaces the cluster's whole set of mappings with the one in FILE (YAML or JSON: a list, or an
  object with a "mappings" list; "-" reads stdin), after printing what changes. --dry-run prints only.
  Each mapping: name, sourceCidr, egressIp, optional destinations, excludedDestinations, labels.

${CONNECTION_USAGE}`;

export const OPTIONS = {
  ...CONNECTION_OPTIONS,
  file: { type: "string", short: "f" },
  "dry-run": { type: "boolean", default: false },
  wait: { type: "boolean", default: false },
} as const;

export interface MappingInput {
  name: string;
  sourceCidr: string;
  egressIp: string;
  destinations?: string[];
  excludedDestinations?: string[];
  labels?: Record<string, string>;
}

export interface MappingPlan {
  added: MappingInput[];
  changed: { before: MappingInput; after: MappingInput }[];
  removed: MappingInput[];
  unchanged: number;
}

/** The comparable content of a mapping: omitted lists and labels are empty, order does not matter. */
function comparable(m: MappingInput): string {
  return JSON.stringify([
    m.sourceCidr, m.egressIp, [...(m.destinations ?? [])].sort(), [...(m.excludedDestinations ?? [])].sort(),
    Object.entries(m.labels ?? {}).sort(([a], [b]) => a.localeCompare(b)),
  ]);
}

export function planMappings(current: MappingInput[], desired: MappingInput[]): MappingPlan {
  const before = new Map(current.map((m) => [m.name, m]));
  const after = new Map(desired.map((m) => [m.name, m]));
  const plan: MappingPlan = { added: [], changed: [], removed: [], unchanged: 0 };
  for (const [name, m] of after) {
    const old = before.get(name);
    if (!old) plan.added.push(m);
    else if (comparable(old) !== comparable(m)) plan.changed.push({ before: old, after: m });
    else plan.unchanged++;
  }
  for (const [name, m] of before) if (!after.has(name)) plan.removed.push(m);
  return plan;
}

export function describeMapping(m: MappingInput): string {
  let text = `${m.sourceCidr} → ${m.egressIp}`;
  if (m.destinations?.length) text += ` only to ${m.destinations.join(", ")}`;
  if (m.excludedDestinations?.length) text += ` except ${m.excludedDestinations.join(", ")}`;
  return text;
}

export function formatPlan(plan: MappingPlan): string {
  const width = Math.max(0, ...[...plan.added, ...plan.removed, ...plan.changed.map((c) => c.after)].map((m) => m.name.length));
  const lines = [
    ...plan.added.map((m) => `+ ${m.name.padEnd(width)}  ${describeMapping(m)}`),
    ...plan.changed.map(({ before, after }) => `~ ${after.name.padEnd(width)}  ${describeMapping(after)}  (was ${describeMapping(before)})`),
    ...plan.removed.map((m) => `- ${m.name.padEnd(width)}  ${describeMapping(m)}`),
  ].map(escapeControl);
  const summary = `${plan.added.length} to add, ${plan.changed.length} to change, ${plan.removed.length} to remove, ${plan.unchanged} unchanged`;
  return `${lines.length > 0 ? `${lines.join("\n")}\n` : ""}${summary}\n`;
}

export function formatMappings(mappings: MappingInput[]): string {
  const labels = (m: MappingInput) => Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return table(["NAME", "SOURCE", "EGRESS IP", "DESTINATIONS", "EXCLUDED", "LABELS"],
    mappings.map((m) => [m.name, m.sourceCidr, m.egressIp, list(m.destinations), list(m.excludedDestinations), list(labels(m))]));
}

/** Reads a mappings file: a YAML or JSON list, or an object with a "mappings" list. */
export function readMappingsFile(path: string): MappingInput[] {
  return readSetDocument<MappingInput>(path, "mappings", "name");
}

export async function mappingsCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: [sub, ...pos] } = parseCommandArgs(args, OPTIONS, MAPPINGS_USAGE);
  const out = (value: unknown, text: string) => (values.json ? printJson(io, value) : io.stdout(text));
  const query = { wait: values.wait ? "true" as const : undefined };
  switch (sub) {
    case "list": {
      const [cluster = ""] = positionals(pos, ["CLUSTER"], MAPPINGS_USAGE);
      const { mappings } = await unwrap(connect(values, io.env).GET("/v1/clusters/{name}/mappings", { params: { path: { name: cluster } } }));
      out({ mappings }, formatMappings(mappings));
      return 0;
    }
    case "apply": {
      const [cluster = ""] = positionals(pos, ["CLUSTER"], MAPPINGS_USAGE);
      if (!values.file) throw new UsageError("apply needs -f FILE", MAPPINGS_USAGE);
      const desired = readMappingsFile(values.file);
      const api = connect(values, io.env);
      const { mappings: current } = await unwrap(api.GET("/v1/clusters/{name}/mappings", { params: { path: { name: cluster } } }));
      const plan = planMappings(current, desired);
      if (values["dry-run"]) {
        out({ dryRun: true, plan }, formatPlan(plan));
        return 0;
      }
      const result = await unwrap(api.PUT("/v1/clusters/{name}/mappings", { params: { path: { name: cluster }, query }, body: { mappings: desired } }));
      out({ revision: result.revision, plan, mappings: result.mappings },
        `${formatPlan(plan)}applied: cluster ${cluster} has ${result.mappings.length} mappings at revision ${result.revision}\n`);
      return 0;
    }
    case "delete": {
      const [cluster = "", name = ""] = positionals(pos, ["CLUSTER", "NAME"], MAPPINGS_USAGE);
      await unwrap(connect(values, io.env).DELETE("/v1/clusters/{name}/mappings/{mapping}", { params: { path: { name: cluster, mapping: name }, query } }));
      out({ deleted: name, cluster }, `deleted mapping ${name} of cluster ${cluster}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? "missing subcommand" : `unknown subcommand ${JSON.stringify(sub)}`, MAPPINGS_USAGE);
  }
}
