import { unwrap } from "../../../client/src/index.js";
import { readSetDocument } from "../document-file.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect } from "../connection.js";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../../terminal/io.js";
import { escapeControl, printJson, table } from "../../terminal/output.js";

export const ROUTES_USAGE = `usage:
  egw routes list CLUSTER
  egw routes apply CLUSTER -f FILE [--dry-run] [--wait]
  egw routes add CLUSTER PREFIX --via ADDRESS [--wait]
  egw routes delete CLUSTER PREFIX [--wait]
  A cluster's routes: its pod CIDR PREFIX via a next hop on the inside network (usually the node), which the
  gateway installs so that replies reach the pods. apply replaces the cluster's whole set with the one in FILE
  (YAML or JSON: a list, or an object with a "routes" list; "-" reads stdin), after printing what changes.
  --dry-run prints only. Each route: prefix, via.

${CONNECTION_USAGE}`;

export const ROUTES_OPTIONS = {
  ...CONNECTION_OPTIONS,
  file: { type: "string", short: "f" },
  via: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  wait: { type: "boolean", default: false },
} as const;

export interface RouteInput { prefix: string; via: string }

export interface RoutePlan {
  added: RouteInput[];
  changed: { before: RouteInput; after: RouteInput }[];
  removed: RouteInput[];
  unchanged: number;
}

/** Routes are keyed by their prefix; a route whose next hop changes is a change, not a removal and an addition. */
export function planRoutes(current: RouteInput[], desired: RouteInput[]): RoutePlan {
  const before = new Map(current.map((r) => [r.prefix, r]));
  const after = new Map(desired.map((r) => [r.prefix, r]));
  const plan: RoutePlan = { added: [], changed: [], removed: [], unchanged: 0 };
  for (const [prefix, r] of after) {
    const old = before.get(prefix);
    if (!old) plan.added.push(r);
    else if (old.via !== r.via) plan.changed.push({ before: old, after: r });
    else plan.unchanged++;
  }
  for (const [prefix, r] of before) if (!after.has(prefix)) plan.removed.push(r);
  return plan;
}

export function formatRoutePlan(plan: RoutePlan): string {
  const width = Math.max(0, ...[...plan.added, ...plan.removed, ...plan.changed.map((c) => c.after)].map((r) => r.prefix.length));
  const lines = [
    ...plan.added.map((r) => `+ ${r.prefix.padEnd(width)}  via ${r.via}`),
    ...plan.changed.map(({ before, after }) => `~ ${after.prefix.padEnd(width)}  via ${after.via}  (was via ${before.via})`),
    ...plan.removed.map((r) => `- ${r.prefix.padEnd(width)}  via ${r.via}`),
  ].map(escapeControl);
  const summary = `${plan.added.length} to add, ${plan.changed.length} to change, ${plan.removed.length} to remove, ${plan.unchanged} unchanged`;
  return `${lines.length > 0 ? `${lines.join("\n")}\n` : ""}${summary}\n`;
}

export function formatRoutes(routes: RouteInput[]): string {
  return table(["PREFIX", "VIA"], routes.map((r) => [r.prefix, r.via]));
}

/** Reads a routes file: a YAML or JSON list, or an object with a "routes" list. */
export function readRoutesFile(path: string): RouteInput[] {
  return readSetDocument<RouteInput>(path, "routes", "prefix");
}

export async function routesCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: [sub, ...pos] } = parseCommandArgs(args, ROUTES_OPTIONS, ROUTES_USAGE);
  const out = (value: unknown, text: string) => (values.json ? printJson(io, value) : io.stdout(text));
  const query = { wait: values.wait ? "true" as const : undefined };
  switch (sub) {
    case "list": {
      const [cluster = ""] = positionals(pos, ["CLUSTER"], ROUTES_USAGE);
      const { routes } = await unwrap(connect(values, io.env).GET("/v1/clusters/{name}/routes", { params: { path: { name: cluster } } }));
      out({ routes }, formatRoutes(routes));
      return 0;
    }
    case "apply": {
      const [cluster = ""] = positionals(pos, ["CLUSTER"], ROUTES_USAGE);
      if (!values.file) throw new UsageError("apply needs -f FILE", ROUTES_USAGE);
      const desired = readRoutesFile(values.file);
      const api = connect(values, io.env);
      const { routes: current } = await unwrap(api.GET("/v1/clusters/{name}/routes", { params: { path: { name: cluster } } }));
      const plan = planRoutes(current, desired);
      if (values["dry-run"]) {
        out({ dryRun: true, plan }, formatRoutePlan(plan));
        return 0;
      }
      const result = await unwrap(api.PUT("/v1/clusters/{name}/routes", { params: { path: { name: cluster }, query }, body: { routes: desired } }));
      out({ revision: result.revision, plan, routes: result.routes },
        `${formatRoutePlan(plan)}applied: cluster ${cluster} has ${result.routes.length} routes at revision ${result.revision}\n`);
      return 0;
    }
    case "add": {
      const [cluster = "", prefix = ""] = positionals(pos, ["CLUSTER", "PREFIX"], ROUTES_USAGE);
      if (values.via === undefined) throw new UsageError("add needs --via ADDRESS", ROUTES_USAGE);
      const created = await unwrap(connect(values, io.env).POST("/v1/clusters/{name}/routes", { params: { path: { name: cluster }, query }, body: { prefix, via: values.via } }));
      out(created, `added route ${created.prefix} via ${created.via} to cluster ${cluster}\n`);
      return 0;
    }
    case "delete": {
      const [cluster = "", prefix = ""] = positionals(pos, ["CLUSTER", "PREFIX"], ROUTES_USAGE);
      // The prefix's slash travels URL-encoded (10.244.1.0%2F24); the daemon decodes it.
      await unwrap(connect(values, io.env).DELETE("/v1/clusters/{name}/routes/{prefix}", { params: { path: { name: cluster, prefix }, query } }));
      out({ deleted: prefix, cluster }, `deleted route ${prefix} of cluster ${cluster}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? "missing subcommand" : `unknown subcommand ${JSON.stringify(sub)}`, ROUTES_USAGE);
  }
}
