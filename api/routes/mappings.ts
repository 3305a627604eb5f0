import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../../appliance/errors.js";
import { requireCluster } from "../../appliance/service/clusters.js";
import * as service from "../../appliance/service/mappings.js";
import type { Db } from "../../appliance/store/database.js";
import * as reads from "../../appliance/store/reads.js";
import type { Mapping } from "../../appliance/model.js";
import type { ApiEnv } from "../context.js";
import { notModifiedTag } from "../http/etag.js";
import { itemAnswers } from "../http/item-answers.js";
import { listPage } from "../http/list.js";
import { nextField, pageQuery } from "../http/pagination.js";
import { requireClusterAccess } from "../middleware/auth.js";
import { clusterNameParam, dnsLabel, jsonBody, jsonResponse, noContent, problemResponses, waitQuery, WRITE_PROBLEMS } from "../schemas/common.js";
import { CREATED_HEADERS, LIST_HEADERS, NOT_MODIFIED, readRequestHeaders, WRITE_HEADERS, writeRequestHeaders } from "../schemas/headers.js";
import { mapping, mappingInput, mappingPatch, mappingReplace, mappingSet } from "../schemas/resources.js";
import { performSetWrite, performWrite } from "../write.js";

const tags = ["Mappings (cluster)"];
const security = [{ bearer: [] }];
const mappingParams = clusterNameParam.extend({ mapping: dnsLabel.openapi({ param: { name: "mapping", in: "path" } }) });
const WRITE_ERRORS = [400, ...WRITE_PROBLEMS, 403, 404, 409, 413, 415, 422, 500, 504] as const;

/** The API shows mappings without the cluster name, which is already in the path. */
const view = ({ cluster: _cluster, ...rest }: Mapping) => rest;
/** The collection as its GET shows it (404 for an unknown cluster): what If-Match of a whole-set PUT or a POST is compared with. */
const collection = (name: string) => (db: Db) => {
  requireCluster(db, name);
  return reads.listMappings(db, name).map(view);
};
const item = (name: string, key: string) => (db: Db) => {
  const found = reads.getMapping(db, name, key);
  return found && view(found);
};
const location = (name: string, key: string) => `/v1/clusters/${name}/mappings/${key}`;

export const mappingRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/{name}/mappings", tags, security, operationId: "listMappings", summary: "List the cluster's mappings, by name",
    request: { params: clusterNameParam, query: pageQuery, headers: readRequestHeaders },
    responses: { 200: jsonResponse(z.object({ mappings: z.array(mapping), next: nextField }), "Mappings", LIST_HEADERS), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const db = c.get("deps").store.db;
    requireCluster(db, name);
    // Paged in the store: a page of a cluster with 100,000 mappings reads only that page.
    const page = listPage(c, {
      all: () => collection(name)(db),
      after: (key, count) => reads.listMappingsAfter(db, name, key === undefined ? undefined : String(key[0]), count).map(view),
    }, (m) => [m.name]);
    if (page.notModified) return c.body(null, 304);
    return c.json({ mappings: page.items, next: page.next }, 200);
  })
  .openapi(createRoute({
    method: "put", path: "/{name}/mappings", tags, security, operationId: "replaceMappings",
    summary: "Replace the whole set of mappings (declarative, idempotent: re-sending the same set changes nothing)",
    request: { params: clusterNameParam, body: jsonBody(mappingSet, "The complete desired set"), query: waitQuery, headers: writeRequestHeaders },
    responses: {
      200: jsonResponse(z.object({ revision: z.number().int(), mappings: z.array(mapping) }), "The stored set", WRITE_HEADERS),
      ...problemResponses(...WRITE_ERRORS),
    },
  }), async (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    return performSetWrite(c, (tx) => service.replaceMappings(tx, name, c.req.valid("json").mappings, c.get("deps").clusterQuotaDefaults),
      { current: collection(name), after: (stored) => stored.map(view) }, ({ result, revision }) => ({ revision, mappings: result.map(view) }));
  })
  .openapi(createRoute({
    method: "post", path: "/{name}/mappings", tags, security, operationId: "createMapping", summary: "Add one mapping",
    request: { params: clusterNameParam, body: jsonBody(mappingInput, "The mapping"), query: waitQuery, headers: writeRequestHeaders },
    responses: { 201: jsonResponse(mapping, "Created", CREATED_HEADERS), ...problemResponses(...WRITE_ERRORS) },
  }), async (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const { result } = await performWrite(c, (tx) => service.createMapping(tx, name, c.req.valid("json"), c.get("deps").clusterQuotaDefaults),
      { current: collection(name), after: view });
    c.header("Location", location(name, result.name));
    return c.json(view(result), 201);
  })
  .openapi(createRoute({
    method: "get", path: "/{name}/mappings/{mapping}", tags, security, operationId: "getMapping", summary: "Show one mapping",
    request: { params: mappingParams, headers: readRequestHeaders },
    responses: { 200: jsonResponse(mapping, "The mapping"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name, mapping: key } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const store = c.get("deps").store;
    // Names are DNS labels: no "/" in either, so the key names one mapping of one cluster.
    const found = itemAnswers(store).answer(`mappings/${name}/${key}`, () => item(name, key)(store.db));
    if (!found) {
      requireCluster(store.db, name);
      throw new AppError("not-found", `cluster ${name} has no mapping named ${key}`);
    }
    if (notModifiedTag(c, found.etag)) return c.body(null, 304);
    // Exactly what c.json would send: the same JSON.stringify of the same representation.
    return c.body(found.body, 200, { "Content-Type": "application/json" });
  })
  .openapi(createRoute({
    method: "put", path: "/{name}/mappings/{mapping}", tags, security, operationId: "putMapping",
    summary: "Create or replace one mapping (201 when created, 200 when replaced)",
    description: "A replace changes the mapping in place, in one revision: the data plane swaps it in one transaction, so its traffic is never "
      + "left untranslated in between. Same checks as adding a mapping; its own policy is kept. Re-sending the same mapping changes nothing.",
    request: { params: mappingParams, body: jsonBody(mappingReplace, "The whole mapping (its name, if given, must be the one in the path)"), query: waitQuery, headers: writeRequestHeaders },
    responses: {
      200: jsonResponse(mapping, "Replaced (or unchanged)", WRITE_HEADERS),
      201: jsonResponse(mapping, "Created", CREATED_HEADERS),
      ...problemResponses(...WRITE_ERRORS),
    },
  }), async (c) => {
    const { name, mapping: key } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const body = c.req.valid("json");
    if (body.name !== undefined && body.name !== key) {
      throw new AppError("validation-failed", `name: ${body.name} is not the mapping in the path (${key})`, { fields: [{ field: "name", reason: `must be ${key}, the mapping in the path` }] });
    }
    const { result } = await performWrite(c, (tx) => service.putMapping(tx, name, { ...body, name: key }, c.get("deps").clusterQuotaDefaults),
      { current: item(name, key), after: (r) => view(r.mapping) });
    if (!result.created) return c.json(view(result.mapping), 200);
    c.header("Location", location(name, key));
    return c.json(view(result.mapping), 201);
  })
  .openapi(createRoute({
    method: "patch", path: "/{name}/mappings/{mapping}", tags, security, operationId: "patchMapping",
    summary: "Change some of one mapping's fields (JSON merge patch, RFC 7396)",
    description: "Send only what changes, e.g. `{\"egressIp\": \"203.0.113.11\"}`; `null` removes a member (a list becomes empty, a label goes). "
      + "As application/merge-patch+json or application/json. Changed in one revision and one data-plane transaction, with the checks of a PUT.",
    request: {
      params: mappingParams, query: waitQuery, headers: writeRequestHeaders,
      body: { required: true, description: "The members to change", content: { "application/merge-patch+json": { schema: mappingPatch }, "application/json": { schema: mappingPatch } } },
    },
    responses: { 200: jsonResponse(mapping, "The changed mapping", WRITE_HEADERS), ...problemResponses(...WRITE_ERRORS) },
  }), async (c) => {
    const { name, mapping: key } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const patch = await c.req.json<unknown>().catch((error: unknown) => {
      throw new AppError("malformed-json", "the request body is not valid JSON", { cause: error });
    });
    if (patch === null || typeof patch !== "object" || Array.isArray(patch)) {
      throw new AppError("validation-failed", "body: a merge patch of a mapping is a JSON object", { fields: [{ field: "body", reason: "must be a JSON object" }] });
    }
    const { result } = await performWrite(c, (tx) => service.patchMapping(tx, name, key, patch as Record<string, unknown>, c.get("deps").clusterQuotaDefaults),
      { current: item(name, key), after: view });
    return c.json(view(result), 200);
  })
  .openapi(createRoute({
    method: "delete", path: "/{name}/mappings/{mapping}", tags, security, operationId: "deleteMapping", summary: "Delete one mapping",
    request: { params: mappingParams, query: waitQuery, headers: writeRequestHeaders },
    responses: { 204: noContent("Deleted"), ...problemResponses(...WRITE_PROBLEMS, 403, 404, 422, 500, 504) },
  }), async (c) => {
    const { name, mapping: key } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    await performWrite(c, (tx) => service.deleteMapping(tx, name, key), { current: item(name, key) });
    return c.body(null, 204);
  });
