import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { parseAddress } from "../../appliance/net/cidr.js";
import * as service from "../../appliance/service/egress-ips.js";
import type { Db } from "../../appliance/store/database.js";
import * as reads from "../../appliance/store/reads.js";
import type { ApiEnv } from "../context.js";
import { notModified } from "../http/etag.js";
import { listPage } from "../http/list.js";
import { nextField, pageQuery } from "../http/pagination.js";
import { requireAdmin } from "../middleware/auth.js";
import { ipAddress, jsonBody, jsonResponse, noContent, problemResponses, waitQuery, WRITE_PROBLEMS } from "../schemas/common.js";
import { CREATED_HEADERS, LIST_HEADERS, NOT_MODIFIED, readRequestHeaders, WRITE_HEADERS, writeRequestHeaders } from "../schemas/headers.js";
import { egressIp, egressIpCreate, egressIpUpdate } from "../schemas/resources.js";
import { performWrite } from "../write.js";

const tags = ["Egress IPs (admin)"];
const security = [{ bearer: [] }];
const addressParam = z.object({ address: ipAddress.openapi({ param: { name: "address", in: "path" } }) });
const collection = (db: Db) => reads.listEgressIps(db);
const item = (address: string) => (db: Db) => reads.getEgressIp(db, parseAddress(address, "address").address);

export const egressIpRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/", tags, security, operationId: "listEgressIps", summary: "List egress IPs, IPv4 first, by address",
    request: { query: pageQuery, headers: readRequestHeaders },
    responses: { 200: jsonResponse(z.object({ egressIps: z.array(egressIp), next: nextField }), "All egress IPs", LIST_HEADERS), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 422) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const page = listPage(c, collection(c.get("deps").store.db), (ip) => [ip.family, ip.address]);
    if (page.notModified) return c.body(null, 304);
    return c.json({ egressIps: page.items, next: page.next }, 200);
  })
  .openapi(createRoute({
    method: "post", path: "/", tags, security, operationId: "createEgressIp", summary: "Create an egress IP",
    request: { body: jsonBody(egressIpCreate, "The address and an optional description"), query: waitQuery, headers: writeRequestHeaders },
    responses: { 201: jsonResponse(egressIp, "Created", CREATED_HEADERS), ...problemResponses(400, ...WRITE_PROBLEMS, 403, 409, 413, 415, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const own = c.get("deps").own;
    const { result } = await performWrite(c, (tx) => service.createEgressIp(tx, c.req.valid("json"), own), { current: collection, after: (created) => created });
    c.header("Location", `/v1/egress-ips/${result.address}`);
    return c.json(result, 201);
  })
  .openapi(createRoute({
    method: "get", path: "/{address}", tags, security, operationId: "getEgressIp", summary: "Show one egress IP",
    request: { params: addressParam, headers: readRequestHeaders },
    responses: { 200: jsonResponse(egressIp, "The egress IP"), ...NOT_MODIFIED, ...problemResponses(401, 429, 403, 404, 422) },
  }), (c) => {
    requireAdmin(c.get("principal"));
    const shown = service.requireEgressIp(c.get("deps").store.db, c.req.valid("param").address);
    if (notModified(c, shown)) return c.body(null, 304);
    return c.json(shown, 200);
  })
  .openapi(createRoute({
    method: "patch", path: "/{address}", tags, security, operationId: "updateEgressIp", summary: "Change an egress IP's description",
    request: { params: addressParam, body: jsonBody(egressIpUpdate, "New description"), query: waitQuery, headers: writeRequestHeaders },
    responses: { 200: jsonResponse(egressIp, "Updated", WRITE_HEADERS), ...problemResponses(400, ...WRITE_PROBLEMS, 403, 404, 413, 415, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { address } = c.req.valid("param");
    const { result } = await performWrite(c, (tx) => service.updateEgressIp(tx, address, c.req.valid("json")), { current: item(address) });
    return c.json(result, 200);
  })
  .openapi(createRoute({
    method: "delete", path: "/{address}", tags, security, operationId: "deleteEgressIp", summary: "Delete an unused egress IP",
    request: { params: addressParam, query: waitQuery, headers: writeRequestHeaders },
    responses: { 204: noContent("Deleted"), ...problemResponses(...WRITE_PROBLEMS, 403, 404, 409, 422, 500, 504) },
  }), async (c) => {
    requireAdmin(c.get("principal"));
    const { address } = c.req.valid("param");
    await performWrite(c, (tx) => service.deleteEgressIp(tx, address), { current: item(address) });
    return c.body(null, 204);
  });
