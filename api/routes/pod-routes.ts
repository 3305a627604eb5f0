import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { parsePrefix, toSortableBytes } from "../../appliance/net/cidr.js";
import { requireCluster } from "../../appliance/service/clusters.js";
import * as service from "../../appliance/service/routes.js";
import type { Db } from "../../appliance/store/database.js";
import * as reads from "../../appliance/store/reads.js";
import type { Route } from "../../appliance/model.js";
import type { ApiEnv } from "../context.js";
import { AppError } from "../../appliance/errors.js";
import { notModified } from "../http/etag.js";
import { listPage } from "../http/list.js";
import { nextField, pageQuery } from "../http/pagination.js";
import { requireClusterAccess } from "../middleware/auth.js";
import { clusterNameParam, jsonBody, jsonResponse, noContent, problemResponses, waitQuery, WRITE_PROBLEMS } from "../schemas/common.js";
import { CREATED_HEADERS, LIST_HEADERS, NOT_MODIFIED, readRequestHeaders, WRITE_HEADERS, writeRequestHeaders } from "../schemas/headers.js";
import { route, routeInput, routeSet } from "../schemas/resources.js";
import { performSetWrite, performWrite } from "../write.js";

const tags = ["Routes (cluster)"];
const security = [{ bearer: [] }];
/** The prefix is the key; its slash is sent URL-encoded (10.244.1.0%2F24, decoded by the router) or as a dash (10.244.1.0-24). */
const routeParams = clusterNameParam.extend({
  prefix: z.string().min(3).max(60).openapi({ param: { name: "prefix", in: "path" }, example: "10.244.1.0%2F24" }),
});
const prefixFromPath = (text: string) => (text.includes("/") ? text : text.replace(/-(\d{1,3})$/, "/$1"));
const view = ({ cluster: _cluster, ...rest }: Route) => rest;
const collection = (name: string) => (db: Db) => {
  requireCluster(db, name);
  return reads.listRoutes(db, name).map(view);
};
/** The store's order (IPv4 first, by first address), as a cursor can carry it. */
const sortKey = (r: { prefix: string }) => {
  const prefix = parsePrefix(r.prefix, "prefix");
  return [prefix.family, toSortableBytes(prefix.start, prefix.family).toString("hex")];
};

export const podRouteRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/{name}/routes", tags, security, operationId: "listRoutes", summary: "List the cluster's routes, IPv4 first, by prefix",
    request: { params: clusterNameParam, query: pageQuery, headers: readRequestHeaders },
    responses: { 200: jsonResponse(z.object({ routes: z.array(route), next: nextField }), "Routes", LIST_HEADERS), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const page = listPage(c, collection(name)(c.get("deps").store.db), sortKey);
    if (page.notModified) return c.body(null, 304);
    return c.json({ routes: page.items, next: page.next }, 200);
  })
  .openapi(createRoute({
    method: "put", path: "/{name}/routes", tags, security, operationId: "replaceRoutes", summary: "Replace the whole set of routes (declarative, idempotent)",
    request: { params: clusterNameParam, body: jsonBody(routeSet, "The complete desired set"), query: waitQuery, headers: writeRequestHeaders },
    responses: {
      200: jsonResponse(z.object({ revision: z.number().int(), routes: z.array(route) }), "The stored set", WRITE_HEADERS),
      ...problemResponses(400, ...WRITE_PROBLEMS, 403, 404, 409, 413, 415, 422, 500, 504),
    },
  }), async (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const { own, clusterQuotaDefaults } = c.get("deps");
    return performSetWrite(c, (tx) => service.replaceRoutes(tx, name, c.req.valid("json").routes, own, clusterQuotaDefaults),
      { current: collection(name), after: (stored) => stored.map(view) }, ({ result, revision }) => ({ revision, routes: result.map(view) }));
  })
  .openapi(createRoute({
    method: "post", path: "/{name}/routes", tags, security, operationId: "createRoute", summary: "Add one route",
    request: { params: clusterNameParam, body: jsonBody(routeInput, "The route"), query: waitQuery, headers: writeRequestHeaders },
    responses: { 201: jsonResponse(route, "Created", CREATED_HEADERS), ...problemResponses(400, ...WRITE_PROBLEMS, 403, 404, 409, 413, 415, 422, 500, 504) },
  }), async (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const { own, clusterQuotaDefaults } = c.get("deps");
    const { result } = await performWrite(c, (tx) => service.createRoute(tx, name, c.req.valid("json"), own, clusterQuotaDefaults),
      { current: collection(name), after: view });
    c.header("Location", `/v1/clusters/${name}/routes/${result.prefix.replace("/", "-")}`);
    return c.json(view(result), 201);
  })
  .openapi(createRoute({
    method: "get", path: "/{name}/routes/{prefix}", tags, security, operationId: "getRoute", summary: "Show one route",
    request: { params: routeParams, headers: readRequestHeaders },
    responses: { 200: jsonResponse(route, "The route"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name, prefix } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const db = c.get("deps").store.db;
    const cidr = parsePrefix(prefixFromPath(prefix), "prefix").cidr;
    const found = reads.getRoute(db, name, cidr);
    if (!found) {
      requireCluster(db, name);
      throw new AppError("not-found", `cluster ${name} has no route for ${cidr}`);
    }
    if (notModified(c, view(found))) return c.body(null, 304);
    return c.json(view(found), 200);
  })
  .openapi(createRoute({
    method: "delete", path: "/{name}/routes/{prefix}", tags, security, operationId: "deleteRoute", summary: "Delete one route",
    request: { params: routeParams, query: waitQuery, headers: writeRequestHeaders },
    responses: { 204: noContent("Deleted"), ...problemResponses(...WRITE_PROBLEMS, 403, 404, 422, 500, 504) },
  }), async (c) => {
    const { name, prefix } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const current = (db: Db) => {
      const found = reads.getRoute(db, name, parsePrefix(prefixFromPath(prefix), "prefix").cidr);
      return found && view(found);
    };
    await performWrite(c, (tx) => service.deleteRoute(tx, name, prefixFromPath(prefix)), { current });
    return c.body(null, 204);
  });
