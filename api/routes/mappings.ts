import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../../appliance/errors.js";
import { requireCluster } from "../../appliance/service/clusters.js";
import * as service from "../../appliance/service/mappings.js";
import * as reads from "../../appliance/store/reads.js";
import type { Mapping } from "../../appliance/model.js";
import type { ApiEnv } from "../context.js";
import { requireClusterAccess } from "../middleware/auth.js";
import { clusterNameParam, dnsLabel, jsonBody, jsonResponse, problemResponses, waitQuery } from "../schemas/common.js";
import { mapping, mappingInput, mappingSet } from "../schemas/resources.js";
import { performWrite } from "../write.js";

const tags = ["Mappings (cluster)"];
const security = [{ bearer: [] }];
const mappingParams = clusterNameParam.extend({ mapping: dnsLabel.openapi({ param: { name: "mapping", in: "path" } }) });

/** The API shows mappings without the cluster name, which is already in the path. */
const view = ({ cluster: _cluster, ...rest }: Mapping) => rest;

export const mappingRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/{name}/mappings", tags, security, summary: "List the cluster's mappings",
    request: { params: clusterNameParam },
    responses: { 200: jsonResponse(z.object({ mappings: z.array(mapping) }), "Mappings"), ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const db = c.get("deps").store.db;
    requireCluster(db, name);
    return c.json({ mappings: reads.listMappings(db, name).map(view) }, 200);
  })
  .openapi(createRoute({
    method: "put", path: "/{name}/mappings", tags, security,
    summary: "Replace the whole set of mappings (declarative, idempotent: re-sending the same set changes nothing)",
    request: { params: clusterNameParam, body: jsonBody(mappingSet, "The complete desired set"), query: waitQuery },
    responses: {
      200: jsonResponse(z.object({ revision: z.number().int(), mappings: z.array(mapping) }), "The stored set"),
      ...problemResponses(400, 401, 429, 403, 404, 409, 413, 415, 422, 500, 504),
    },
  }), async (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const { result, revision } = await performWrite(c, (tx) => service.replaceMappings(tx, name, c.req.valid("json").mappings, c.get("deps").clusterQuotaDefaults));
    return c.json({ revision, mappings: result.map(view) }, 200);
  })
  .openapi(createRoute({
    method: "post", path: "/{name}/mappings", tags, security, summary: "Add one mapping",
    request: { params: clusterNameParam, body: jsonBody(mappingInput, "The mapping"), query: waitQuery },
    responses: { 201: jsonResponse(mapping, "Created"), ...problemResponses(400, 401, 429, 403, 404, 409, 413, 415, 422, 500, 504) },
  }), async (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const { result } = await performWrite(c, (tx) => service.createMapping(tx, name, c.req.valid("json"), c.get("deps").clusterQuotaDefaults));
    return c.json(view(result), 201);
  })
  .openapi(createRoute({
    method: "get", path: "/{name}/mappings/{mapping}", tags, security, summary: "Show one mapping",
    request: { params: mappingParams },
    responses: { 200: jsonResponse(mapping, "The mapping"), ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name, mapping: key } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const db = c.get("deps").store.db;
    const found = reads.getMapping(db, name, key);
    if (!found) {
      requireCluster(db, name);
      throw new AppError("not-found", `cluster ${name} has no mapping named ${key}`);
    }
    return c.json(view(found), 200);
  })
  .openapi(createRoute({
    method: "delete", path: "/{name}/mappings/{mapping}", tags, security, summary: "Delete one mapping",
    request: { params: mappingParams, query: waitQuery },
    responses: { 204: { description: "Deleted" }, ...problemResponses(401, 429, 403, 404, 422, 500, 504) },
  }), async (c) => {
    const { name, mapping: key } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    await performWrite(c, (tx) => service.deleteMapping(tx, name, key));
    return c.body(null, 204);
  });
