import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { requireCluster } from "../../appliance/service/clusters.js";
import * as service from "../../appliance/service/routes.js";
import * as reads from "../../appliance/store/reads.js";
import type { Route } from "../../appliance/model.js";
import type { ApiEnv } from "../context.js";
import { requireClusterAccess } from "../middleware/auth.js";
import { clusterNameParam, jsonBody, jsonResponse, problemResponses, waitQuery } from "../schemas/common.js";
import { route, routeInput, routeSet } from "../schemas/resources.js";
import { performWrite } from "../write.js";

const tags = ["Routes (cluster)"];
const security = [{ bearer: [] }];
/** The prefix is the key; its slash is sent URL-encoded (10.244.1.0%2F24, decoded by the router) or as a dash (10.244.1.0-24). */
const routeParams = clusterNameParam.extend({
  prefix: z.string().min(3).max(60).openapi({ param: { name: "prefix", in: "path" }, example: "10.244.1.0%2F24" }),
});
const prefixFromPath = (text: string) => (text.includes("/") ? text : text.replace(/-(\d{1,3})$/, "/$1"));
const view = ({ cluster: _cluster, ...rest }: Route) => rest;

export const podRouteRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/{name}/routes", tags, security, summary: "List the cluster's routes",
    request: { params: clusterNameParam },
    responses: { 200: jsonResponse(z.object({ routes: z.array(route) }), "Routes"), ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const db = c.get("deps").store.db;
    requireCluster(db, name);
    return c.json({ routes: reads.listRoutes(db, name).map(view) }, 200);
  })
  .openapi(createRoute({
    method: "put", path: "/{name}/routes", tags, security, summary: "Replace the whole set of routes (declarative, idempotent)",
    request: { params: clusterNameParam, body: jsonBody(routeSet, "The complete desired set"), query: waitQuery },
    responses: {
      200: jsonResponse(z.object({ revision: z.number().int(), routes: z.array(route) }), "The stored set"),
      ...problemResponses(400, 401, 429, 403, 404, 409, 413, 415, 422, 500, 504),
    },
  }), async (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const { own, clusterQuotaDefaults } = c.get("deps");
    const { result, revision } = await performWrite(c, (tx) => service.replaceRoutes(tx, name, c.req.valid("json").routes, own, clusterQuotaDefaults));
    return c.json({ revision, routes: result.map(view) }, 200);
  })
  .openapi(createRoute({
    method: "post", path: "/{name}/routes", tags, security, summary: "Add one route",
    request: { params: clusterNameParam, body: jsonBody(routeInput, "The route"), query: waitQuery },
    responses: { 201: jsonResponse(route, "Created"), ...problemResponses(400, 401, 429, 403, 404, 409, 413, 415, 422, 500, 504) },
  }), async (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const { own, clusterQuotaDefaults } = c.get("deps");
    const { result } = await performWrite(c, (tx) => service.createRoute(tx, name, c.req.valid("json"), own, clusterQuotaDefaults));
    return c.json(view(result), 201);
  })
  .openapi(createRoute({
    method: "delete", path: "/{name}/routes/{prefix}", tags, security, summary: "Delete one route",
    request: { params: routeParams, query: waitQuery },
    responses: { 204: { description: "Deleted" }, ...problemResponses(401, 429, 403, 404, 422, 500, 504) },
  }), async (c) => {
    const { name, prefix } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    await performWrite(c, (tx) => service.deleteRoute(tx, name, prefixFromPath(prefix)));
    return c.body(null, 204);
  });
