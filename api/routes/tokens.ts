import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { requireCluster } from "../../appliance/service/clusters.js";
import * as service from "../../appliance/service/tokens.js";
import type { Db } from "../../appliance/store/database.js";
import * as reads from "../../appliance/store/reads.js";
import type { ApiEnv } from "../context.js";
import { AppError } from "../../appliance/errors.js";
import { notModified } from "../http/etag.js";
import { listPage } from "../http/list.js";
import { nextField, pageQuery } from "../http/pagination.js";
import { requireAdmin } from "../middleware/auth.js";
import { clusterNameParam, jsonBody, jsonResponse, problemResponses, WRITE_PROBLEMS } from "../schemas/common.js";
import { CREATED_HEADERS, LIST_HEADERS, NOT_MODIFIED, readRequestHeaders, WRITE_HEADERS, writeRequestHeaders } from "../schemas/headers.js";
import { issuedToken, tokenCreate, tokenInfo } from "../schemas/resources.js";
import { performWrite } from "../write.js";

const tags = ["Cluster tokens (admin)"];
const security = [{ bearer: [] }];
const tokenParams = clusterNameParam.extend({ id: z.string().regex(/^[0-9a-f]{12}$/, "must be a token id").openapi({ param: { name: "id", in: "path" } }) });
const collection = (name: string) => (db: Db) => {
  requireCluster(db, name);
  return reads.listTokens(db, name);
};

export const tokenRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/{name}/tokens", tags, security, operationId: "listTokens", summary: "List a cluster's tokens (never the secrets), oldest first",
    request: { params: clusterNameParam, query: pageQuery, headers: readRequestHeaders },
    responses: { 200: jsonResponse(z.object({ tokens: z.array(tokenInfo), next: nextField }), "Tokens", LIST_HEADERS), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const page = listPage(c, collection(c.req.valid("param").name)(c.get("deps").store.db), (t) => [t.createdAt, t.id]);
    if (page.notModified) return c.body(null, 304);
    return c.json({ tokens: page.items, next: page.next }, 200);
  })
  .openapi(createRoute({
    method: "post", path: "/{name}/tokens", tags, security, operationId: "issueToken", summary: "Issue a token; the secret is shown only in this response",
    request: { params: clusterNameParam, body: jsonBody(tokenCreate, "What the token is for"), headers: writeRequestHeaders },
    responses: { 201: jsonResponse(issuedToken, "Issued", CREATED_HEADERS), ...problemResponses(400, ...WRITE_PROBLEMS, 403, 404, 413, 415, 422) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { name } = c.req.valid("param");
    // The answer's ETag is the token's as its list shows it, never a hash of the secret.
    const { result } = await performWrite(c, (tx) => service.issueToken(tx, name, c.req.valid("json").description ?? ""),
      { current: collection(name), after: (issued, db) => reads.getToken(db, name, issued.id) });
    c.header("Cache-Control", "no-store");
    c.header("Location", `/v1/clusters/${name}/tokens/${result.id}`);
    return c.json(result, 201);
  })
  .openapi(createRoute({
    method: "get", path: "/{name}/tokens/{id}", tags, security, operationId: "getToken", summary: "Show one token (never its secret)",
    request: { params: tokenParams, headers: readRequestHeaders },
    responses: { 200: jsonResponse(tokenInfo, "The token"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const { name, id } = c.req.valid("param");
    const db = c.get("deps").store.db;
    const found = reads.getToken(db, name, id);
    if (!found) {
      requireCluster(db, name);
      throw new AppError("not-found", `cluster ${name} has no token ${id}`);
    }
    if (notModified(c, found)) return c.body(null, 304);
    return c.json(found, 200);
  })
  .openapi(createRoute({
    method: "delete", path: "/{name}/tokens/{id}", tags, security, operationId: "revokeToken", summary: "Revoke a token (takes effect at once)",
    request: { params: tokenParams, headers: writeRequestHeaders },
    responses: { 200: jsonResponse(tokenInfo, "Revoked", WRITE_HEADERS), ...problemResponses(...WRITE_PROBLEMS, 403, 404, 422) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { name, id } = c.req.valid("param");
    const { result } = await performWrite(c, (tx) => service.revokeToken(tx, name, id), { current: (db) => reads.getToken(db, name, id) });
    return c.json(result, 200);
  });
