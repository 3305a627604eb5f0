import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { requireCluster } from "../../appliance/service/clusters.js";
import * as service from "../../appliance/service/tokens.js";
import * as reads from "../../appliance/store/reads.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin } from "../middleware/auth.js";
import { clusterNameParam, jsonBody, jsonResponse, problemResponses } from "../schemas/common.js";
import { issuedToken, tokenCreate, tokenInfo } from "../schemas/resources.js";
import { performWrite } from "../write.js";

const tags = ["Cluster tokens (admin)"];
const security = [{ bearer: [] }];
const tokenParams = clusterNameParam.extend({ id: z.string().regex(/^[0-9a-f]{12}$/, "must be a token id").openapi({ param: { name: "id", in: "path" } }) });

export const tokenRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/{name}/tokens", tags, security, summary: "List a cluster's tokens (never the secrets)",
    request: { params: clusterNameParam },
    responses: { 200: jsonResponse(z.object({ tokens: z.array(tokenInfo) }), "Tokens"), ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const db = c.get("deps").store.db;
    const { name } = c.req.valid("param");
    requireCluster(db, name);
    return c.json({ tokens: reads.listTokens(db, name) }, 200);
  })
  .openapi(createRoute({
    method: "post", path: "/{name}/tokens", tags, security, summary: "Issue a token; the secret is shown only in this response",
    request: { params: clusterNameParam, body: jsonBody(tokenCreate, "What the token is for") },
    responses: { 201: jsonResponse(issuedToken, "Issued"), ...problemResponses(400, 401, 429, 403, 404, 413, 415, 422) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { name } = c.req.valid("param");
    const { result } = await performWrite(c, (tx) => service.issueToken(tx, name, c.req.valid("json").description ?? ""));
    c.header("Cache-Control", "no-store");
    return c.json(result, 201);
  })
  .openapi(createRoute({
    method: "delete", path: "/{name}/tokens/{id}", tags, security, summary: "Revoke a token (takes effect at once)",
    request: { params: tokenParams },
    responses: { 200: jsonResponse(tokenInfo, "Revoked"), ...problemResponses(401, 429, 403, 404, 422) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { name, id } = c.req.valid("param");
    const { result } = await performWrite(c, (tx) => service.revokeToken(tx, name, id));
    return c.json(result, 200);
  });
