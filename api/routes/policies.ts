import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../../appliance/errors.js";
import type { EgressPolicy, PolicyFloor } from "../../appliance/model.js";
import { requireCluster } from "../../appliance/service/clusters.js";
import * as service from "../../appliance/service/policies.js";
import * as reads from "../../appliance/store/reads.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin, requireClusterAccess } from "../middleware/auth.js";
import type { Db } from "../../appliance/store/database.js";
import { notModified } from "../http/etag.js";
import { listPage } from "../http/list.js";
import { nextField, pageQuery } from "../http/pagination.js";
import { clusterNameParam, dnsLabel, jsonBody, jsonResponse, noContent, problemResponses, waitQuery, WRITE_PROBLEMS } from "../schemas/common.js";
import { LIST_HEADERS, NOT_MODIFIED, readRequestHeaders, WRITE_HEADERS, writeRequestHeaders } from "../schemas/headers.js";
import { clusterPolicyOverview, floorInput, policyEvent, policyFloor, policyInput, storedPolicy } from "../schemas/policies.js";
import { floorCounter, ruleCounter, unmatchedCounter } from "../../appliance/policy/compile.js";
import type { ApiDeps } from "../context.js";
import { performWrite } from "../write.js";

const tags = ["Egress policy"];
const security = [{ bearer: [] }];
const mappingParams = clusterNameParam.extend({ mapping: dnsLabel.openapi({ param: { name: "mapping", in: "path" } }) });
const WRITE_ERRORS = [400, ...WRITE_PROBLEMS, 403, 404, 413, 415, 422, 500, 504] as const;

const policyView = (mapping: string | null, policy: EgressPolicy, revision?: number) =>
  ({ ...(revision === undefined ? {} : { revision }), scope: mapping === null ? "cluster" as const : "mapping" as const, policy });
const floorView = (floor: PolicyFloor, revision?: number) =>
  ({ ...(revision === undefined ? {} : { revision }), scope: floor.cluster === null ? "global" as const : "cluster" as const, rules: floor.rules });

/**
 * One policy resource, at the cluster (its default) or at a mapping: GET, declarative PUT, DELETE. A cluster
 * token reaches only its own cluster's.
 */
function policyResource(app: OpenAPIHono<ApiEnv>, path: string, params: typeof clusterNameParam | typeof mappingParams, what: string, resource: string): OpenAPIHono<ApiEnv> {
  const target = (p: { name: string; mapping?: string }) => ({ cluster: p.name, mapping: p.mapping ?? null });
  const stored = (cluster: string, mapping: string | null) => (db: Db) => {
    requireCluster(db, cluster);
    const found = reads.getPolicy(db, cluster, mapping);
    return found && policyView(mapping, found.policy);
  };
  return app
    .openapi(createRoute({
      method: "get", path, tags, security, operationId: `get${resource}`, summary: `Show ${what}`, request: { params, headers: readRequestHeaders },
      responses: { 200: jsonResponse(storedPolicy, "The stored policy"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
    }), (c) => {
      const { cluster, mapping } = target(c.req.valid("param"));
      requireClusterAccess(c.get("principal"), cluster);
      const db = c.get("deps").store.db;
      requireCluster(db, cluster);
      const found = reads.getPolicy(db, cluster, mapping);
      if (!found) throw new AppError("not-found", mapping === null ? `cluster ${cluster} has no default policy` : `mapping ${mapping} of cluster ${cluster} has no policy of its own`);
      const shown = policyView(mapping, found.policy);
      if (notModified(c, shown)) return c.body(null, 304);
      return c.json(shown, 200);
    })
    .openapi(createRoute({
      method: "put", path, tags, security, operationId: `put${resource}`,
      summary: `Set ${what} (declarative: re-sending the same policy changes nothing)`,
      description: "Refused with 403 `floor-conflict` when a rule allows, by prefix, what a floor (global or the cluster's) denies; the problem names each rule and floor rule.",
      request: { params, body: jsonBody(policyInput, "The whole policy"), query: waitQuery, headers: writeRequestHeaders },
      responses: { 200: jsonResponse(storedPolicy, "The stored policy", WRITE_HEADERS), ...problemResponses(...WRITE_ERRORS) },
    }), async (c) => {
      const { cluster, mapping } = target(c.req.valid("param"));
      requireClusterAccess(c.get("principal"), cluster);
      const { result, revision } = await performWrite(c, (tx) => service.putPolicy(tx, cluster, mapping, c.req.valid("json")), { current: stored(cluster, mapping) });
      return c.json(policyView(mapping, result.policy, revision), 200);
    })
    .openapi(createRoute({
      method: "delete", path, tags, security, operationId: `delete${resource}`, summary: `Delete ${what}`, request: { params, query: waitQuery, headers: writeRequestHeaders },
      responses: { 204: noContent("Deleted"), ...problemResponses(...WRITE_PROBLEMS, 403, 404, 422, 500, 504) },
    }), async (c) => {
      const { cluster, mapping } = target(c.req.valid("param"));
      requireClusterAccess(c.get("principal"), cluster);
      await performWrite(c, (tx) => service.deletePolicy(tx, cluster, mapping), { current: stored(cluster, mapping) });
      return c.body(null, 204);
    });
}

/** A floor: readable by the cluster it binds (and the global one by every cluster), written only by an admin. */
function floorResource(app: OpenAPIHono<ApiEnv>, path: string, global: boolean): OpenAPIHono<ApiEnv> {
  const params = global ? z.object({}) : clusterNameParam;
  const scopeOf = (p: { name?: string }): string | null => (global ? null : (p.name as string));
  const what = global ? "the global floor" : "the cluster's floor";
  const resource = global ? "GlobalFloor" : "ClusterFloor";
  const stored = (cluster: string | null) => (db: Db) => {
    if (cluster !== null) requireCluster(db, cluster);
    const found = reads.getFloor(db, cluster);
    return found && floorView(found);
  };
  return app
    .openapi(createRoute({
      method: "get", path, tags, security, operationId: `get${resource}`, summary: `Show ${what}`, request: { params, headers: readRequestHeaders },
      responses: { 200: jsonResponse(policyFloor, "The floor"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
    }), (c) => {
      const cluster = scopeOf(c.req.valid("param") as { name?: string });
      if (cluster !== null) requireClusterAccess(c.get("principal"), cluster);
      const db = c.get("deps").store.db;
      if (cluster !== null) requireCluster(db, cluster);
      const found = reads.getFloor(db, cluster);
      if (!found) throw new AppError("not-found", cluster === null ? "there is no global floor" : `cluster ${cluster} has no floor`);
      const shown = floorView(found);
      if (notModified(c, shown)) return c.body(null, 304);
      return c.json(shown, 200);
    })
    .openapi(createRoute({
      method: "put", path, tags, security, operationId: `put${resource}`, summary: `Set ${what} (admin; declarative)`,
      description: "What no policy may allow. Policies stored before stay stored, but the data plane applies the floor first.",
      request: { params, body: jsonBody(floorInput, "The whole floor"), query: waitQuery, headers: writeRequestHeaders },
      responses: { 200: jsonResponse(policyFloor, "The stored floor", WRITE_HEADERS), ...problemResponses(...WRITE_ERRORS) },
    }), async (c) => {
      requireAdmin(c.get("principal"));
      const cluster = scopeOf(c.req.valid("param") as { name?: string });
      const { result, revision } = await performWrite(c, (tx) => service.putFloor(tx, cluster, c.req.valid("json")), { current: stored(cluster) });
      return c.json(floorView(result, revision), 200);
    })
    .openapi(createRoute({
      method: "delete", path, tags, security, operationId: `delete${resource}`, summary: `Delete ${what} (admin)`, request: { params, query: waitQuery, headers: writeRequestHeaders },
      responses: { 204: noContent("Deleted"), ...problemResponses(...WRITE_PROBLEMS, 403, 404, 422, 500, 504) },
    }), async (c) => {
      requireAdmin(c.get("principal"));
      const cluster = scopeOf(c.req.valid("param") as { name?: string });
      await performWrite(c, (tx) => service.deleteFloor(tx, cluster), { current: stored(cluster) });
      return c.body(null, 204);
    });
}

/** The names a set of policies uses, lower case as the resolver keeps them. */
const namesIn = (policies: readonly EgressPolicy[]): Set<string> =>
  new Set(policies.flatMap((p) => p.rules.flatMap((r) => r.destinations.flatMap((d) => (d.name === undefined ? [] : [d.name])))));

/** What each of a cluster's policies did on this gateway: its counters, the names it resolves, the floors that bind it. */
async function overview(deps: ApiDeps, cluster: string) {
  const db = deps.store.db;
  const counters = (await deps.policies?.counters()) ?? undefined;
  const counted = (name: string): number | null => (counters === undefined ? null : counters.get(name) ?? 0);
  const governed = service.effectivePolicies(db, cluster);
  const floorUse = (floorCluster: string | null) => (reads.getFloor(db, floorCluster)?.rules ?? [])
    .map((rule, index) => ({ index, description: rule.description, connections: counted(floorCounter(floorCluster, index)) }));
  const defaultPolicy = reads.getPolicy(db, cluster, null)?.policy;
  const used = namesIn([...governed.map((g) => g.policy), ...(defaultPolicy ? [defaultPolicy] : [])]);
  return {
    cluster,
    defaultPolicy: defaultPolicy ?? null,
    mappings: governed.map((g) => ({
      mapping: g.mapping, scope: g.scope, mode: g.policy.mode, defaultAction: g.policy.defaultAction,
      rules: g.policy.rules.map((rule, index) => ({ index, description: rule.description, connections: counted(ruleCounter(cluster, g.mapping, index)) })),
      unmatched: counted(unmatchedCounter(cluster, g.mapping)),
    })),
    floors: { global: floorUse(null), cluster: floorUse(cluster) },
    names: (deps.policies?.names() ?? []).filter((n) => used.has(n.name)).map((n) => ({
      ...n, addresses: n.addresses.map((a) => ({ address: a.address, expiresAt: new Date(a.expiresAt).toISOString() })),
    })),
  };
}

/** Mounted at /v1/clusters. */
export const clusterPolicyRoutes = floorResource(
  policyResource(policyResource(new OpenAPIHono<ApiEnv>(), "/{name}/policy", clusterNameParam, "the cluster's default policy", "ClusterPolicy"),
    "/{name}/mappings/{mapping}/policy", mappingParams, "a mapping's own policy", "MappingPolicy"),
  "/{name}/policy-floor", false)
  .openapi(createRoute({
    method: "get", path: "/{name}/policies", tags, security, operationId: "getPolicyOverview", summary: "What the cluster's policies did on this gateway",
    description: "Every mapping a policy governs with the connections each rule allowed first and those no rule allowed, the DNS names the policies use as this gateway resolves them, and what the floors refused. Counts are this gateway's since its table was last built.",
    request: { params: clusterNameParam, headers: readRequestHeaders },
    responses: { 200: jsonResponse(clusterPolicyOverview, "The overview"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), async (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    requireCluster(c.get("deps").store.db, name);
    const shown = await overview(c.get("deps"), name);
    if (notModified(c, shown)) return c.body(null, 304);
    return c.json(shown, 200);
  })
  .openapi(createRoute({
    method: "get", path: "/{name}/policy-events", tags, security, operationId: "listPolicyEvents", summary: "The latest connections the cluster's policies refused",
    description: "Newest first, as this gateway logged them (at most policy.log.ratePerSecond a second for each kind of refusal, shared by every cluster; the counters in /policies count every one). Audit mode's would-be refusals are listed as `audited`.",
    request: { params: clusterNameParam, query: pageQuery, headers: readRequestHeaders },
    responses: { 200: jsonResponse(z.object({ events: z.array(policyEvent), next: nextField }), "Events", LIST_HEADERS), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    requireCluster(c.get("deps").store.db, name);
    const events = c.get("deps").policies?.events(name) ?? [];
    // Newest first; the cursor carries the last event's time and tuple, so newer events never shift a page.
    const page = listPage(c, events, (e) => [e.at, e.source, e.destination, e.protocol, e.destinationPort ?? -1], true);
    if (page.notModified) return c.body(null, 304);
    return c.json({ events: page.items, next: page.next }, 200);
  });

/** Mounted at /v1. */
export const globalFloorRoutes = floorResource(new OpenAPIHono<ApiEnv>(), "/policy-floor", true);
