import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import * as service from "../../appliance/service/clusters.js";
import * as reads from "../../appliance/store/reads.js";
import type { Cluster } from "../../appliance/model.js";
import { effectiveQuotas } from "../../appliance/service/quotas.js";
import type { ApiDeps, ApiEnv } from "../context.js";
import { requireAdmin, requireClusterAccess } from "../middleware/auth.js";
import { clusterNameParam, jsonBody, jsonResponse, problemResponses, waitQuery } from "../schemas/common.js";
import { cluster, clusterCreate, clusterReplace } from "../schemas/resources.js";
import { performWrite } from "../write.js";

const tags = ["Clusters (admin)"];
const security = [{ bearer: [] }];

/** The stored cluster with what only this gateway knows: the quotas in force (its config's defaults) and the usage. */
function view(deps: ApiDeps, stored: Cluster) {
  return { ...stored, effectiveQuotas: effectiveQuotas(stored, deps.clusterQuotaDefaults), usage: reads.clusterUsage(deps.store.db, stored.name) };
}

export const clusterRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/", tags, security, summary: "List clusters",
    responses: { 200: jsonResponse(z.object({ clusters: z.array(cluster) }), "All clusters"), ...problemResponses(401, 429, 403) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const deps = c.get("deps");
    return c.json({ clusters: reads.listClusterNames(deps.store.db).map((name) => view(deps, service.requireCluster(deps.store.db, name))) }, 200);
  })
  .openapi(createRoute({
    method: "post", path: "/", tags, security, summary: "Create a cluster with its source ranges, allowed egress IPs, excludable destinations and quotas",
    request: { body: jsonBody(clusterCreate, "The cluster"), query: waitQuery },
    responses: { 201: jsonResponse(cluster, "Created"), ...problemResponses(400, 401, 429, 403, 409, 413, 415, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { result } = await performWrite(c, (tx) => service.createCluster(tx, c.req.valid("json")));
    return c.json(view(c.get("deps"), result), 201);
  })
  .openapi(createRoute({
    method: "get", path: "/{name}", tags, security, summary: "Show a cluster (its own token may read it too)",
    request: { params: clusterNameParam },
    responses: { 200: jsonResponse(cluster, "The cluster"), ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const deps = c.get("deps");
    return c.json(view(deps, service.requireCluster(deps.store.db, name)), 200);
  })
  .openapi(createRoute({
    method: "put", path: "/{name}", tags, security, summary: "Replace a cluster's description, grants and quota overrides (what the body leaves out is reset to its default)",
    request: { params: clusterNameParam, body: jsonBody(clusterReplace, "The new grants"), query: waitQuery },
    responses: { 200: jsonResponse(cluster, "Replaced"), ...problemResponses(400, 401, 429, 403, 404, 409, 413, 415, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { name } = c.req.valid("param");
    const { result } = await performWrite(c, (tx) => service.replaceCluster(tx, { name, ...c.req.valid("json") }));
    return c.json(view(c.get("deps"), result), 200);
  })
  .openapi(createRoute({
    method: "delete", path: "/{name}", tags, security, summary: "Delete a cluster (with cascade=true, also its mappings, routes and tokens)",
    request: { params: clusterNameParam, query: waitQuery.extend({ cascade: z.enum(["true", "false"]).optional() }) },
    responses: { 204: { description: "Deleted" }, ...problemResponses(401, 429, 403, 404, 409, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const cascade = c.req.valid("query").cascade === "true";
    await performWrite(c, (tx) => service.deleteCluster(tx, c.req.valid("param").name, cascade));
    return c.body(null, 204);
  });
