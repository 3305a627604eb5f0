import { AppError } from "../errors.js";
import type { Cluster, Quotas, Route } from "../model.js";
import { findOverlap, parseAddress, parsePrefix, prefixContains, prefixContainsAddress, requireUnicast, type Prefix } from "../net/cidr.js";
import * as reads from "../store/reads.js";
import * as rows from "../store/rows.js";
import type { WriteContext } from "../store/store.js";
import { changedItems } from "./audit-diff.js";
import { ownedRanges, requireCluster } from "./clusters.js";
import type { OwnAddresses } from "./own-addresses.js";
import { assertWithinQuota, DEFAULT_CLUSTER_QUOTAS } from "./quotas.js";

export interface RouteInput {
  prefix: string;
  via: string;
}

export interface CheckedRoute {
  route: Route;
  prefix: Prefix;
  at: string;
}

/**
 * A route steers return traffic toward a node. A cluster may only route prefixes inside its own source
 * ranges: anything else would let it capture another tenant's replies. Exported for the store-invariant
 * checker, which re-derives every replicated route through it.
 */
export function checkRoute(cluster: Cluster, ranges: Prefix[], input: RouteInput, field: string, own: OwnAddresses): CheckedRoute {
  const at = field === "" ? "" : `${field}.`;
  const prefix = parsePrefix(input.prefix, `${at}prefix`);
  const via = parseAddress(input.via, `${at}via`);
  // An IPv6 next hop is often link-local (fe80::…); the route names the inside interface, so that works.
  requireUnicast(via, `${at}via`, { allowLinkLocal: true });
  if (via.family !== prefix.family) {
    throw new AppError("validation-failed", `${at}via: IPv${via.family} next hop for an IPv${prefix.family} prefix`,
      { fields: [{ field: `${at}via`, reason: `IPv${via.family} next hop for an IPv${prefix.family} prefix` }] });
  }
  if (own.isOwn(via.address) || prefixContainsAddress(prefix, via)) {
    const reason = own.isOwn(via.address) ? "is an address of this gateway" : "lies inside the routed prefix itself";
    throw new AppError("validation-failed", `${at}via: ${via.address} ${reason}`, { fields: [{ field: `${at}via`, reason }] });
  }
  const notAHost = own.insideSubnetAddress?.(via.address);
  if (notAHost) {
    throw new AppError("validation-failed", `${at}via: ${via.address} ${notAHost}`, { fields: [{ field: `${at}via`, reason: notAHost }] });
  }
  const linkLocal = via.family === 6 && via.address.toLowerCase().startsWith("fe80:");
  if (!linkLocal && own.onInsideNetwork?.(via.address) === false) {
    const reason = "is not on the inside network: the next hop must be a node the gateway reaches directly";
    throw new AppError("validation-failed", `${at}via: ${via.address} ${reason}`, { fields: [{ field: `${at}via`, reason }] });
  }
  if (!ranges.some((range) => prefixContains(range, prefix))) {
    throw new AppError("not-owned", `route prefix ${prefix.cidr} is not inside the source ranges of cluster ${cluster.name}`,
      { fields: [{ field: `${at}prefix`, reason: `not inside ${cluster.sourceRanges.join(", ") || "any source range"}` }] });
  }
  return { prefix, at, route: { cluster: cluster.name, prefix: prefix.cidr, via: via.address } };
}

function assertNoOverlapWithStore(tx: WriteContext, checked: CheckedRoute): void {
  const other = reads.findOverlappingRange(tx.db, "routes", checked.prefix);
  if (other) {
    throw new AppError("overlap", `route ${checked.prefix.cidr} overlaps route ${other.cidr} of cluster ${other.cluster}`,
      { fields: [{ field: `${checked.at}prefix`, reason: `overlaps route ${other.cidr} of cluster ${other.cluster}` }], extra: { conflictsWith: other } });
  }
}

/** `quotaDefaults` are the daemon's limits.clusterDefaults. */
export function replaceRoutes(tx: WriteContext, clusterName: string, inputs: RouteInput[], own: OwnAddresses,
  quotaDefaults: Quotas = DEFAULT_CLUSTER_QUOTAS): Route[] {
  const cluster = requireCluster(tx.db, clusterName);
  // Counted before anything is parsed: an oversized set costs no more than its refusal.
  assertWithinQuota(cluster, quotaDefaults, "routes", reads.clusterUsage(tx.db, clusterName).routes, inputs.length);
  const ranges = ownedRanges(cluster);
  const checked = inputs.map((input, i) => checkRoute(cluster, ranges, input, `routes.${i}`, own));
  const clash = findOverlap(checked, (c) => c.prefix);
  if (clash) {
    throw new AppError("overlap", `routes ${clash[0].prefix.cidr} and ${clash[1].prefix.cidr} overlap`,
      { fields: [{ field: `${clash[1].at}prefix`, reason: `overlaps ${clash[0].prefix.cidr}` }] });
  }
  const before = reads.listRoutes(tx.db, clusterName);
  for (const route of before) rows.deleteRoute(tx.db, clusterName, route.prefix);
  for (const c of checked) {
    assertNoOverlapWithStore(tx, c);
    rows.insertRoute(tx.db, c.route, c.prefix, tx.now);
  }
  const after = reads.listRoutes(tx.db, clusterName);
  if (JSON.stringify(before) !== JSON.stringify(after)) {
    tx.audit({ action: "replace", resource: `clusters/${clusterName}/routes`, ...changedItems(before, after, (r) => r.prefix) });
  }
  return after;
}

export function createRoute(tx: WriteContext, clusterName: string, input: RouteInput, own: OwnAddresses,
  quotaDefaults: Quotas = DEFAULT_CLUSTER_QUOTAS): Route {
  const cluster = requireCluster(tx.db, clusterName);
  const checked = checkRoute(cluster, ownedRanges(cluster), input, "", own);
  const routes = reads.clusterUsage(tx.db, clusterName).routes;
  assertWithinQuota(cluster, quotaDefaults, "routes", routes, routes + 1);
  assertNoOverlapWithStore(tx, checked);
  rows.insertRoute(tx.db, checked.route, checked.prefix, tx.now);
  tx.audit({ action: "create", resource: `clusters/${clusterName}/routes/${checked.route.prefix}`, after: checked.route });
  return checked.route;
}

export function deleteRoute(tx: WriteContext, clusterName: string, prefixText: string): void {
  requireCluster(tx.db, clusterName);
  const prefix = parsePrefix(prefixText, "prefix");
  const before = reads.getRoute(tx.db, clusterName, prefix.cidr);
  if (!before) throw new AppError("not-found", `cluster ${clusterName} has no route ${prefix.cidr}`);
  rows.deleteRoute(tx.db, clusterName, prefix.cidr);
  tx.audit({ action: "delete", resource: `clusters/${clusterName}/routes/${prefix.cidr}`, before });
}
