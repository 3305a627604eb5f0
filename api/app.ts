import { OpenAPIHono } from "@hono/zod-openapi";
import { AppError } from "../appliance/errors.js";
import { fieldProblemsFromZod } from "../appliance/validation.js";
import type { ApiDeps, ApiEnv } from "./context.js";
import { ClusterWriteLocks, oneBulkWritePerCluster } from "./limits/bulk-write-lock.js";
import { FailureWindows } from "./limits/failure-window.js";
import { TokenBuckets } from "./limits/token-bucket.js";
import { authenticate } from "./middleware/auth.js";
import { bodyLimit, drainRefusedBodies } from "./middleware/body-limit.js";
import { jsonOnly } from "./middleware/json-only.js";
import { leaderWrites } from "./middleware/leader-writes.js";
import { requestLog } from "./middleware/request-log.js";
import { problemResponse, toProblem } from "./problem.js";
import { clusterRoutes } from "./routes/clusters.js";
import { egressIpRoutes } from "./routes/egress-ips.js";
import { mappingRoutes } from "./routes/mappings.js";
import { opsRoutes } from "./routes/ops.js";
import { haRoutes } from "./routes/ha.js";
import { podRouteRoutes } from "./routes/pod-routes.js";
import { clusterPolicyRoutes, globalFloorRoutes } from "./routes/policies.js";
import { portRoutes } from "./routes/ports.js";
import { clusterStatusRoutes, systemStatusRoutes } from "./routes/status.js";
import { statusPageRoutes } from "./routes/status-page.js";
import { tokenRoutes } from "./routes/tokens.js";
import { translationRoutes } from "./routes/translations.js";

export const API_VERSION = "0.2.0";

/** The largest body of a POST, PATCH or DELETE: one mapping with 256 destinations, 256 exclusions and 32 labels fits. */
export const SINGLE_ITEM_BODY_LIMIT = 64 * 1024;

/** Builds the whole REST API. Pure: no listening socket, so tests drive it with `app.request()`. */
export function createApp(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>({
    // Schema violations become our 422 problem with one entry per field.
    defaultHook: (result) => {
      if (!result.success) {
        const fields = fieldProblemsFromZod(result.error);
        throw new AppError("validation-failed", fields.map((f) => `${f.field || "body"}: ${f.reason}`).join("; "), { fields });
      }
    },
  });

  const clock = deps.clock ?? Date.now;
  const locks = new ClusterWriteLocks();
  app.use("*", requestLog({ log: deps.log, record: deps.recordRequest }));
  app.use("*", async (c, next) => {
    c.set("deps", deps);
    await next();
  });
  const drainTime = deps.bodyDrainMs === undefined ? {} : { drainMs: deps.bodyDrainMs };
  app.use("*", drainRefusedBodies(drainTime));
  // Authentication reads headers only and comes first: no body of an unauthenticated client is buffered,
  // and none is forwarded to the leader. The bulk-write lock comes next, before the body limit (which
  // buffers a body sent without Content-Length), so that a second PUT is refused before its body is read.
  const authentication = authenticate({ failures: new FailureWindows(deps.authFailures, clock), buckets: new TokenBuckets(deps.rateLimit, clock) });
  app.use("/v1/*", authentication);
  // Every egress IP's traffic is not for tenants to read: on the API listeners, /metrics is the admin's.
  app.use("/metrics", authentication);
  app.use("/v1/clusters/:name/mappings", oneBulkWritePerCluster(locks));
  app.use("/v1/clusters/:name/routes", oneBulkWritePerCluster(locks));
  // A policy of thousands of destinations is checked synchronously: one at a time per cluster, like a whole set.
  app.use("/v1/clusters/:name/policy", oneBulkWritePerCluster(locks));
  app.use("/v1/clusters/:name/mappings/:mapping/policy", oneBulkWritePerCluster(locks));
  // Only a whole-set PUT (one per cluster at a time) may be large; one item is small, so that a token's burst of
  // single writes cannot hold hundreds of megabytes of bodies in memory.
  const wholeSet = bodyLimit({ maxBytes: deps.bodyLimitBytes, what: "the request body", ...drainTime });
  const oneItem = bodyLimit({ maxBytes: Math.min(SINGLE_ITEM_BODY_LIMIT, deps.bodyLimitBytes), what: "the body of a request that is not a whole-set PUT", ...drainTime });
  // A PUT of one mapping is one item, however it is sent.
  const isWholeSet = (method: string, path: string) => method === "PUT" && !/^\/v1\/clusters\/[^/]+\/mappings\/[^/]+$/.test(path);
  app.use("/v1/*", (c, next) => (isWholeSet(c.req.method, c.req.path) ? wholeSet : oneItem)(c, next));
  app.use("/v1/*", jsonOnly());
  app.use("/v1/*", leaderWrites());

  app.route("/", opsRoutes);
  app.route("/v1/ha", haRoutes);
  app.route("/v1/status", systemStatusRoutes);
  app.route("/v1/egress-ips", egressIpRoutes);
  app.route("/v1", portRoutes((d) => d.ports));
  app.route("/v1/clusters", clusterRoutes);
  app.route("/v1/clusters", tokenRoutes);
  app.route("/v1/clusters", mappingRoutes);
  app.route("/v1/clusters", podRouteRoutes);
  app.route("/v1/clusters", clusterPolicyRoutes);
  app.route("/v1", globalFloorRoutes);
  app.route("/v1/clusters", clusterStatusRoutes);
  app.route("/v1/translations", translationRoutes);
  app.route("/", statusPageRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http", scheme: "bearer", description: "The admin token, or a cluster token issued under /v1/clusters/{name}/tokens",
  });
  app.doc31("/openapi.json", openApiInfo);

  app.notFound((c) => problemResponse(c, new AppError("not-found", `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    const problem = toProblem(error);
    if (problem.status >= 500) deps.log.error({ err: error, path: c.req.path, method: c.req.method }, "request failed");
    return problemResponse(c, problem, c.req.path);
  });
  return app;
}

export const openApiInfo = {
  openapi: "3.1.0",
  info: {
    title: "Egress gateway appliance API",
    version: API_VERSION,
    description: "Register egress IPs, clusters, mappings (source CIDR → egress IP) and routes. Errors are RFC 9457 problem documents.\n\n"
      + "HTTP conventions for automation (docs/operator-guide.md, \"HTTP conventions\"): every GET of a resource or list answers an `ETag` computed from the "
      + "resource's representation; every write honours `If-Match` (412 `precondition-failed` when it does not hold, checked inside the "
      + "write's transaction) and answers the new `ETag`. Lists take `limit` (1-1000) and `cursor` and answer `next` and a "
      + "`Link: <…>; rel=\"next\"` header; without `limit` a list is answered whole. A 201 carries `Location`; a 401 `WWW-Authenticate`; "
      + "a 429 or 503 `Retry-After`. One mapping can be replaced (PUT) or patched (JSON merge patch) in place, in one data-plane transaction.",
    license: { name: "Apache-2.0", identifier: "Apache-2.0" },
  },
  servers: [{
    url: "/",
    description: "The gateway itself: any of its api.listen addresses (HTTPS with api.tls), or a unix:/path listener, with a client that speaks HTTP over it. Every gateway of a group answers; writes sent to a backup are forwarded to the leader.",
  }],
};
