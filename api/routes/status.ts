import { createRoute, OpenAPIHono, type z } from "@hono/zod-openapi";
import { requireCluster } from "../../appliance/service/clusters.js";
import * as reads from "../../appliance/store/reads.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin, requireClusterAccess } from "../middleware/auth.js";
import { notModified } from "../http/etag.js";
import { clusterNameParam, jsonResponse, problemResponses } from "../schemas/common.js";
import { NOT_MODIFIED, readRequestHeaders } from "../schemas/headers.js";
import { clusterStatus, systemStatus } from "../schemas/resources.js";

const security = [{ bearer: [] }];

export const systemStatusRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/", tags: ["Operations"], security, operationId: "getSystemStatus", summary: "This gateway's role, revisions, peers and last apply",
    request: { headers: readRequestHeaders },
    responses: { 200: jsonResponse(systemStatus, "Status"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const shown = c.get("deps").status();
    if (notModified(c, shown)) return c.body(null, 304);
    return c.json(shown, 200);
  });

export const clusterStatusRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/{name}/status", tags: ["Mappings (cluster)"], security, operationId: "getClusterStatus",
    summary: "The current revision and whether each gateway has applied it",
    request: { params: clusterNameParam, headers: readRequestHeaders },
    responses: { 200: jsonResponse(clusterStatus, "Status"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    const { name } = c.req.valid("param");
    requireClusterAccess(c.get("principal"), name);
    const deps = c.get("deps");
    const db = deps.store.db;
    requireCluster(db, name);
    const system = deps.status();
    const self = { name: system.gateway, role: system.role, appliedRevision: system.appliedRevision, inSync: system.inSync, lastApply: system.lastApply };
    // A peer as a cluster sees it: how replication to it goes (its errors name other tenants' data) is the admin's.
    const gateways = [self, ...system.peers.map(({ name, role, appliedRevision, inSync, lastApply }) => ({ name, role, appliedRevision, inSync, lastApply }))];
    // A cluster token sees the apply reports as they concern its own cluster: another tenant's held-back change
    // (its name, its prefixes in the kernel's error) and the other clusters' next hops are not its business.
    const forCaller = c.get("principal").kind === "admin" ? gateways : gateways.map((g) => ({ ...g, lastApply: g.lastApply && ownPart(g.lastApply, name) }));
    const shown = { cluster: name, revision: system.revision, ...reads.countClusterItems(db, name), gateways: forCaller };
    if (notModified(c, shown)) return c.body(null, 304);
    return c.json(shown, 200);
  });

type ApplyReportView = NonNullable<z.infer<typeof systemStatus>["lastApply"]>;

/** An apply report reduced to what one cluster may read: whether its own change is held back, and why. */
function ownPart(report: ApplyReportView, cluster: string): ApplyReportView {
  const { error, isolated, unresolvedNextHops: _unresolved, ...rest } = report;
  return {
    ...rest,
    ...(error === undefined ? {} : { error: "the last apply failed; the gateway's operators have the details" }),
    ...(isolated === undefined ? {} : { isolated: isolated.filter((i) => i.cluster === cluster) }),
  };
}
