import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../../appliance/errors.js";
import type { EgressIp } from "../../appliance/model.js";
import { parseAddress } from "../../appliance/net/cidr.js";
import * as reads from "../../appliance/store/reads.js";
import { NAT_SOURCE_PORTS, type EgressPortUsage, type PortView } from "../../appliance/translations/port-tally.js";
import type { ApiDeps, ApiEnv, Principal } from "../context.js";
import { notModified } from "../http/etag.js";
import { listPage } from "../http/list.js";
import { nextField, pageQuery } from "../http/pagination.js";
import { ipAddress, jsonResponse, problemResponses } from "../schemas/common.js";
import { LIST_HEADERS, NOT_MODIFIED, readRequestHeaders } from "../schemas/headers.js";
import { egressPortUsage, portsQuery } from "../schemas/ports.js";

const tags = ["Port use"];
const security = [{ bearer: [] }];
const addressParam = z.object({ address: ipAddress.openapi({ param: { name: "address", in: "path" } }) });
const ABOUT = "Counted on this gateway from its translation log (open connections it translated); a backup gateway "
  + "that holds no egress IP counts none.";

/**
 * Port use per egress IP: how many source ports each egress IP has in use towards its busiest destinations, and
 * so how close new connections to them are to failing. An admin sees every egress IP; a cluster token only those
 * granted to its cluster. `viewOf` gives the port tally, or undefined while the translation log is off.
 */
export function portRoutes(viewOf: (deps: ApiDeps) => PortView | undefined): OpenAPIHono<ApiEnv> {
  const view = (deps: ApiDeps): PortView => {
    const tally = viewOf(deps);
    if (!tally) throw new AppError("not-found", "port use is counted from the translation log, which is off on this gateway (translationLog.enabled)");
    return tally;
  };
  return new OpenAPIHono<ApiEnv>()
    .openapi(createRoute({
      method: "get", path: "/ports", tags, security, operationId: "listPortUse", summary: "Port use of every egress IP this token may use",
      description: ABOUT, request: { query: portsQuery.extend(pageQuery.shape), headers: readRequestHeaders },
      responses: {
        200: jsonResponse(z.object({ egressIps: z.array(egressPortUsage), next: nextField }), "One entry per egress IP, by family and address", LIST_HEADERS),
        ...NOT_MODIFIED, ...problemResponses(401, 404, 422, 429),
      },
    }), (c) => {
      const deps = c.get("deps");
      const principal = c.get("principal");
      const visible = reads.listEgressIps(deps.store.db).filter((ip) => principal.kind === "admin" || ip.cluster === principal.cluster);
      const tally = view(deps);
      const { top } = c.req.valid("query");
      const page = listPage(c, visible.map((ip) => answer(tally.forEgress(ip.address, top))),
        (usage) => [usage.egressAddress.includes(":") ? 6 : 4, usage.egressAddress]);
      if (page.notModified) return c.body(null, 304);
      return c.json({ egressIps: page.items, next: page.next }, 200);
    })
    .openapi(createRoute({
      method: "get", path: "/egress-ips/{address}/ports", tags, security, operationId: "getPortUse", summary: "Port use of one egress IP",
      description: ABOUT, request: { params: addressParam, query: portsQuery, headers: readRequestHeaders },
      responses: { 200: jsonResponse(egressPortUsage, "The egress IP's busiest destinations"), ...NOT_MODIFIED, ...problemResponses(401, 403, 404, 422, 429) },
    }), (c) => {
      const deps = c.get("deps");
      const ip = visibleEgressIp(deps, c.get("principal"), c.req.valid("param").address);
      const tally = view(deps);
      const shown = answer(tally.forEgress(ip.address, c.req.valid("query").top));
      if (notModified(c, shown)) return c.body(null, 304);
      return c.json(shown, 200);
    });
}

/** The egress IP if this principal may see it: 422 for a malformed address, 403 for another cluster's, 404 for none. */
function visibleEgressIp(deps: ApiDeps, principal: Principal, text: string): EgressIp {
  const address = parseAddress(text, "address").address;
  const ip = reads.getEgressIp(deps.store.db, address);
  if (principal.kind === "cluster") {
    // Whether another cluster's egress IP exists is none of this cluster's business: absent or not, the same 403.
    if (!ip || ip.cluster !== principal.cluster) {
      throw new AppError("forbidden", `this token belongs to cluster ${principal.cluster}, which may not use egress IP ${address}`);
    }
    return ip;
  }
  if (!ip) throw new AppError("not-found", `egress IP ${address} does not exist`);
  return ip;
}

function answer(usage: EgressPortUsage) {
  return {
    egressAddress: usage.egressAddress, available: NAT_SOURCE_PORTS, destinations: usage.destinations,
    maxUtilization: usage.maxUtilization, busiest: usage.busiest,
  };
}
