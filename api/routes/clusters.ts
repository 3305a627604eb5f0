import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import * as service from "../../appliance/service/clusters.js";
import * as reads from "../../appliance/store/reads.js";
import type { Cluster } from "../../appliance/model.js";
import type { Db } from "../../appliance/store/database.js";
import { effectiveQuotas } from "../../appliance/service/quotas.js";
import type { ApiDeps, ApiEnv } from "../context.js";
import { notModified } from "../http/etag.js";
import { listPage } from "../http/list.js";
import { nextField, pageQuery } from "../http/pagination.js";
import { requireAdmin, requireClusterAccess } from "../middleware/auth.js";
import { clusterNameParam, jsonBody, jsonResponse, noContent, problemResponses, waitQuery, WRITE_PROBLEMS } from "../schemas/common.js";
import { CREATED_HEADERS, LIST_HEADERS, NOT_MODIFIED, readRequestHeaders, WRITE_HEADERS, writeRequestHeaders } from "../schemas/headers.js";
import { cluster, clusterCreate, clusterReplace } from "../schemas/resources.js";
import { performWrite } from "../write.js";

const tags = ["Clusters (admin)"];
const security = [{ bearer: [] }];

/** The stored cluster with what only this gateway knows: the quotas in force (its config's defaults) and the usage. */
function view(deps: ApiDeps, stored: Cluster, db: Db = deps.store.db) {
  return { ...stored, effectiveQuotas: effectiveQuotas(stored, deps.clusterQuotaDefaults), usage: reads.clusterUsage(db, stored.name) };
}
/**
 * Every stored cluster, by name: what the list's ETag and a POST's If-Match are computed from. A cluster's ETag
 * comes from the stored cluster only, never from its view: the quotas in force come from each gateway's own
 * config (a backup's tag would never match on the leader), and the usage changes with every mapping the
 * cluster's own controller writes (an admin's update would keep failing with 412). So the tag changes when the
 * cluster's own fields do; the usage an answer shows may be newer than its tag.
 */
const collection = (db: Db) => reads.listClusterNames(db).map((name) => service.requireCluster(db, name));
const item = (name: string) => (db: Db) => reads.getCluster(db, name);

export const clusterRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/", tags, security, operationId: "listClusters", summary: "List clusters, by name",
    request: { query: pageQuery, headers: readRequestHeaders },
    responses: { 200: jsonResponse(z.object({ clusters: z.array(cluster), next: nextField }), "All clusters", LIST_HEADERS), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 422) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const deps = c.get("deps");
    const page = listPage(c, collection(deps.store.db), (cl) => [cl.name]);
    if (page.notModified) return c.body(null, 304);
    return c.json({ clusters: page.items.map((stored) => view(deps, stored)), next: page.next }, 200);
  })
  .openapi(createRoute({
    method: "post", path: "/", tags, security, operationId: "createCluster",
    summary: "Create a cluster with its source ranges, allowed egress IPs, excludable destinations and quotas",
    request: { body: jsonBody(clusterCreate, "The cluster"), query: waitQuery, headers: writeRequestHeaders },
    responses: { 201: jsonResponse(cluster, "Created", CREATED_HEADERS), ...problemResponses(400, ...WRITE_PROBLEMS, 403, 409, 413, 415, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const deps = c.get("deps");
    const { result } = await performWrite(c, (tx) => service.createCluster(tx, c.req.valid("json")),
      { current: collection, after: (created) => created });
    c.header("Location", `/v1/clusters/${result.name}`);
    return c.json(view(deps, result), 201);
  })
  .openapi(createRoute({
    method: "get", path: "/{name}", tags, security, operationId: "getCluster", summary: "Show a cluster (its own token may read it too)",
    request: { params: clusterNameParam, headers: readRequestHeaders },
    responses: { 200: jsonResponse(cluster, "The cluster"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const deps = c.get("deps");
    const stored = service.requireCluster(deps.store.db, name);
    if (notModified(c, stored)) return c.body(null, 304);
    return c.json(view(deps, stored), 200);
  })
  .openapi(createRoute({
    method: "put", path: "/{name}", tags, security, operationId: "replaceCluster",
    summary: "Replace a cluster's description, grants and quota overrides (what the body leaves out is reset to its default)",
    request: { params: clusterNameParam, body: jsonBody(clusterReplace, "The new grants"), query: waitQuery, headers: writeRequestHeaders },
    responses: { 200: jsonResponse(cluster, "Replaced", WRITE_HEADERS), ...problemResponses(400, ...WRITE_PROBLEMS, 403, 404, 409, 413, 415, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { name } = c.req.valid("param");
    const deps = c.get("deps");
    const { result } = await performWrite(c, (tx) => service.replaceCluster(tx, { name, ...c.req.valid("json") }), { current: item(name) });
    return c.json(view(deps, result), 200);
  })
  .openapi(createRoute({
    method: "delete", path: "/{name}", tags, security, operationId: "deleteCluster",
    summary: "Delete a cluster (with cascade=true, also its mappings, routes and tokens)",
    request: { params: clusterNameParam, query: waitQuery.extend({ cascade: z.enum(["true", "false"]).optional() }), headers: writeRequestHeaders },
    responses: { 204: noContent("Deleted"), ...problemResponses(...WRITE_PROBLEMS, 403, 404, 409, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const cascade = c.req.valid("query").cascade === "true";
    const { name } = c.req.valid("param");
    await performWrite(c, (tx) => service.deleteCluster(tx, name, cascade), { current: item(name) });
    return c.body(null, 204);
  });
