import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import * as service from "../../appliance/service/egress-ips.js";
import * as reads from "../../appliance/store/reads.js";
import type { ApiEnv } from "../context.js";
import { requireAdmin } from "../middleware/auth.js";
import { ipAddress, jsonBody, jsonResponse, problemResponses, waitQuery } from "../schemas/common.js";
import { egressIp, egressIpCreate, egressIpUpdate } from "../schemas/resources.js";
import { performWrite } from "../write.js";

const tags = ["Egress IPs (admin)"];
const security = [{ bearer: [] }];
const addressParam = z.object({ address: ipAddress.openapi({ param: { name: "address", in: "path" } }) });

export const egressIpRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/", tags, security, summary: "List egress IPs",
    responses: { 200: jsonResponse(z.object({ egressIps: z.array(egressIp) }), "All egress IPs"), ...problemResponses(401, 429, 403) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    return c.json({ egressIps: reads.listEgressIps(c.get("deps").store.db) }, 200);
  })
  .openapi(createRoute({
    method: "post", path: "/", tags, security, summary: "Create an egress IP",
    request: { body: jsonBody(egressIpCreate, "The address and an optional description"), query: waitQuery },
    responses: { 201: jsonResponse(egressIp, "Created"), ...problemResponses(400, 401, 429, 403, 409, 413, 415, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const own = c.get("deps").own;
    const { result } = await performWrite(c, (tx) => service.createEgressIp(tx, c.req.valid("json"), own));
    return c.json(result, 201);
  })
  .openapi(createRoute({
    method: "get", path: "/{address}", tags, security, summary: "Show one egress IP",
    request: { params: addressParam },
    responses: { 200: jsonResponse(egressIp, "The egress IP"), ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    return c.json(service.requireEgressIp(c.get("deps").store.db, c.req.valid("param").address), 200);
  })
  .openapi(createRoute({
    method: "patch", path: "/{address}", tags, security, summary: "Change an egress IP's description",
    request: { params: addressParam, body: jsonBody(egressIpUpdate, "New description"), query: waitQuery },
    responses: { 200: jsonResponse(egressIp, "Updated"), ...problemResponses(400, 401, 429, 403, 404, 413, 415, 422) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { result } = await performWrite(c, (tx) => service.updateEgressIp(tx, c.req.valid("param").address, c.req.valid("json")));
    return c.json(result, 200);
  })
  .openapi(createRoute({
    method: "delete", path: "/{address}", tags, security, summary: "Delete an unused egress IP",
    request: { params: addressParam, query: waitQuery },
    responses: { 204: { description: "Deleted" }, ...problemResponses(401, 429, 403, 404, 409, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    await performWrite(c, (tx) => service.deleteEgressIp(tx, c.req.valid("param").address));
    return c.body(null, 204);
  });
