import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { requireCluster } from "../../appliance/service/clusters.js";
import { sql } from "../../appliance/store/database.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin, requireClusterAccess } from "../middleware/auth.js";
import { clusterNameParam, jsonResponse, problemResponses } from "../schemas/common.js";
import { clusterStatus, systemStatus } from "../schemas/resources.js";

const security = [{ bearer: [] }];

export const systemStatusRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/", tags: ["Operations"], security, summary: "This gateway's role, revisions, peers and last apply",
    responses: { 200: jsonResponse(systemStatus, "Status"), ...problemResponses(401, 429, 403) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    return c.json(c.get("deps").status(), 200);
  });

export const clusterStatusRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/{name}/status", tags: ["Mappings (cluster)"], security,
    summary: "The current revision and whether each gateway has applied it",
    request: { params: clusterNameParam },
    responses: { 200: jsonResponse(clusterStatus, "Status"), ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const deps = c.get("deps");
    const db = deps.store.db;
    requireCluster(db, name);
    const system = deps.status();
    const count = (table: "mappings" | "routes") =>
      (sql(db, `SELECT count(*) AS n FROM ${table} WHERE cluster = ?`).get(name) as { n: number }).n;
    const self = { name: system.gateway, role: system.role, appliedRevision: system.appliedRevision, inSync: system.inSync, lastApply: system.lastApply };
    return c.json({ cluster: name, revision: system.revision, mappings: count("mappings"), routes: count("routes"), gateways: [self, ...system.peers] }, 200);
  });
