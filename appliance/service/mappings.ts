import { AppError, invalidField, type FieldProblem } from "../errors.js";
import { mappingInput } from "../schemas/inputs.js";
import { fieldProblemsFromZod } from "../validation.js";
import type { Cluster, Mapping, Quotas } from "../model.js";
import { findOverlap, parseAddress, parsePrefix, prefixContains, type Prefix } from "../net/cidr.js";
import * as reads from "../store/reads.js";
import * as rows from "../store/rows.js";
import type { WriteContext } from "../store/store.js";
import { changedItems } from "./audit-diff.js";
import { grantsOf, requireCluster, type ClusterGrants } from "./clusters.js";
import { forgetMappingPolicies } from "./policies.js";
import { parsePrefixList, overlapProblem, sortedCidrs } from "./prefix-lists.js";
import { assertWithinQuota, DEFAULT_CLUSTER_QUOTAS, destinationCount } from "./quotas.js";

export interface MappingInput {
  name: string;
  sourceCidr: string;
  egressIp: string;
  destinations?: string[] | undefined;
  excludedDestinations?: string[] | undefined;
  labels?: Record<string, string> | undefined;
}

export interface CheckedMapping {
  mapping: Mapping;
  source: Prefix;
  field: string;
}

/**
 * Turns input into a canonical mapping and checks it against the cluster's grants. The order of checks is
 * the order of the brief's status codes: malformed values (422) before ownership (403). Exported for the
 * store-invariant checker, which re-derives every replicated mapping through it.
 */
export function checkMapping(cluster: Cluster, grants: ClusterGrants, input: MappingInput, field: string): CheckedMapping {
  const at = field === "" ? "" : `${field}.`;
  const source = parsePrefix(input.sourceCidr, `${at}sourceCidr`);
  const egress = parseAddress(input.egressIp, `${at}egressIp`);
  const problems: FieldProblem[] = [];
  if (egress.family !== source.family) {
    problems.push({ field: `${at}egressIp`, reason: `IPv${egress.family} egress IP for an IPv${source.family} source CIDR` });
  }
  const destinations = parsePrefixList(input.destinations, `${at}destinations`);
  const excluded = parsePrefixList(input.excludedDestinations, `${at}excludedDestinations`);
  for (const item of [...destinations, ...excluded]) {
    if (item.prefix.family !== source.family) {
      problems.push({ field: item.field, reason: `IPv${item.prefix.family} prefix for an IPv${source.family} source CIDR` });
    }
  }
  // Each list is one kernel set and must not overlap itself; a destination and an exclusion may overlap
  // ("toward 10/8 except 10.1/16"), since they live in different sets.
  for (const list of [destinations, excluded]) {
    const overlap = overlapProblem(list);
    if (overlap) problems.push(overlap);
  }
  if (problems.length > 0) {
    throw new AppError("validation-failed", problems.map((p) => `${p.field}: ${p.reason}`).join("; "), { fields: problems });
  }
  if (!grants.ranges.some((range) => prefixContains(range, source))) {
    throw new AppError("not-owned", `source CIDR ${source.cidr} is not inside the source ranges of cluster ${cluster.name}`,
      { fields: [{ field: `${at}sourceCidr`, reason: `not inside ${cluster.sourceRanges.join(", ") || "any source range"}` }] });
  }
  if (!cluster.egressIps.includes(egress.address)) {
    throw new AppError("not-owned", `egress IP ${egress.address} is not one cluster ${cluster.name} may use`,
      { fields: [{ field: `${at}egressIp`, reason: "not granted to this cluster" }] });
  }
  // An exclusion lets pod addresses leave untranslated, past the firewall's view of who is who: only
  // where an admin allowed it.
  const ungranted = excluded.find((item) => !grants.excludable.some((grant) => prefixContains(grant, item.prefix)));
  if (ungranted) {
    const allowed = cluster.excludableDestinations.join(", ") || "none";
    throw new AppError("not-owned", `cluster ${cluster.name} may not exclude ${ungranted.prefix.cidr} from translation (excludable destinations: ${allowed})`,
      { fields: [{ field: ungranted.field, reason: `not inside the cluster's excludable destinations (${allowed})` }] });
  }
  return {
    source,
    field,
    mapping: {
      cluster: cluster.name,
      name: input.name,
      sourceCidr: source.cidr,
      egressIp: egress.address,
      destinations: sortedCidrs(destinations),
      excludedDestinations: sortedCidrs(excluded),
      // Sorted keys: a set re-sent with its labels in another order is the same set.
      labels: Object.fromEntries(Object.entries(input.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    },
  };
}

function assertNoOverlapWithStore(tx: WriteContext, checked: CheckedMapping): void {
  const at = checked.field === "" ? "" : `${checked.field}.`;
  const other = reads.findOverlappingRange(tx.db, "mappings", checked.source);
  if (other) {
    const owner = `mapping ${other.name} of cluster ${other.cluster}`;
    throw new AppError("overlap", `source CIDR ${checked.source.cidr} overlaps ${other.cidr} (${owner})`,
      { fields: [{ field: `${at}sourceCidr`, reason: `overlaps ${other.cidr} (${owner})` }], extra: { conflictsWith: other } });
  }
}

/**
 * A mapping's own policy was checked for its source's family: moved to the other family, its prefixes would drop out
 * and it would refuse everything. The policy goes first (or is replaced), then the mapping moves.
 */
function assertPoliciesKeepTheirFamily(tx: WriteContext, cluster: string, before: readonly Mapping[], checked: readonly CheckedMapping[]): void {
  // By name: a search of `before` per mapping is 5·10⁹ comparisons when 100k mappings are re-sent.
  const byName = new Map(before.map((m) => [m.name, m]));
  for (const c of checked) {
    const old = byName.get(c.mapping.name);
    if (!old || old.sourceCidr.includes(":") === c.mapping.sourceCidr.includes(":") || !reads.getPolicy(tx.db, cluster, old.name)) continue;
    throw new AppError("validation-failed", `mapping ${old.name} has a policy for its IPv${c.source.family === 4 ? 6 : 4} source; delete the policy before moving the mapping to IPv${c.source.family}`,
      { fields: [{ field: `${c.field === "" ? "" : `${c.field}.`}sourceCidr`, reason: `the mapping's policy is for IPv${c.source.family === 4 ? 6 : 4}: delete it first` }] });
  }
}

/**
 * Declarative replace: after it, the cluster's mappings are exactly `inputs`. Unchanged input changes nothing.
 * `quotaDefaults` are the daemon's limits.clusterDefaults.
 */
export function replaceMappings(tx: WriteContext, clusterName: string, inputs: MappingInput[], quotaDefaults: Quotas = DEFAULT_CLUSTER_QUOTAS): Mapping[] {
  const cluster = requireCluster(tx.db, clusterName);
  const names = new Map<string, number>();
  inputs.forEach((input, i) => {
    const earlier = names.get(input.name);
    if (earlier !== undefined) {
      throw new AppError("validation-failed", `mappings ${earlier} and ${i} are both named ${input.name}`,
        { fields: [{ field: `mappings.${i}.name`, reason: `duplicate of mappings.${earlier}.name` }] });
    }
    names.set(input.name, i);
  });
  // Counted before anything is parsed: an oversized set costs no more than its refusal.
  const usage = reads.clusterUsage(tx.db, clusterName);
  assertWithinQuota(cluster, quotaDefaults, "mappings", usage.mappings, inputs.length);
  assertWithinQuota(cluster, quotaDefaults, "destinations", usage.destinations, destinationCount(inputs));
  const grants = grantsOf(cluster);
  const checked = inputs.map((input, i) => checkMapping(cluster, grants, input, `mappings.${i}`));
  const clash = findOverlap(checked, (c) => c.source);
  if (clash) {
    throw new AppError("overlap", `source CIDRs ${clash[0].source.cidr} (${clash[0].mapping.name}) and ${clash[1].source.cidr} (${clash[1].mapping.name}) overlap`,
      { fields: [{ field: `${clash[1].field}.sourceCidr`, reason: `overlaps ${clash[0].source.cidr} of mapping ${clash[0].mapping.name}` }] });
  }
  const before = reads.listMappings(tx.db, clusterName);
  assertPoliciesKeepTheirFamily(tx, clusterName, before, checked);
  const after = checked.map((c) => c.mapping).sort((a, b) => a.name.localeCompare(b.name));
  if (JSON.stringify(before) === JSON.stringify(after)) return before;
  for (const mapping of before) rows.deleteMapping(tx.db, clusterName, mapping.name);
  forgetMappingPolicies(tx, clusterName, before.filter((m) => !names.has(m.name)).map((m) => m.name));
  for (const c of checked) {
    assertNoOverlapWithStore(tx, c);
    rows.insertMapping(tx.db, c.mapping, c.source, tx.now);
  }
  tx.audit({ action: "replace", resource: `clusters/${clusterName}/mappings`, ...changedItems(before, after, (m) => m.name) });
  return reads.listMappings(tx.db, clusterName);
}

export function createMapping(tx: WriteContext, clusterName: string, input: MappingInput, quotaDefaults: Quotas = DEFAULT_CLUSTER_QUOTAS): Mapping {
  const cluster = requireCluster(tx.db, clusterName);
  if (reads.getMapping(tx.db, clusterName, input.name)) {
    throw new AppError("conflict", `cluster ${clusterName} already has a mapping named ${input.name}`,
      { fields: [{ field: "name", reason: "already exists" }] });
  }
  const checked = checkMapping(cluster, grantsOf(cluster), input, "");
  const usage = reads.clusterUsage(tx.db, clusterName);
  assertWithinQuota(cluster, quotaDefaults, "mappings", usage.mappings, usage.mappings + 1);
  assertWithinQuota(cluster, quotaDefaults, "destinations", usage.destinations, usage.destinations + destinationCount([checked.mapping]));
  assertNoOverlapWithStore(tx, checked);
  rows.insertMapping(tx.db, checked.mapping, checked.source, tx.now);
  tx.audit({ action: "create", resource: `clusters/${clusterName}/mappings/${input.name}`, after: checked.mapping });
  return checked.mapping;
}

export function deleteMapping(tx: WriteContext, clusterName: string, name: string): void {
  requireCluster(tx.db, clusterName);
  const before = reads.getMapping(tx.db, clusterName, name);
  if (!before) throw new AppError("not-found", `cluster ${clusterName} has no mapping named ${name}`);
  rows.deleteMapping(tx.db, clusterName, name);
  tx.audit({ action: "delete", resource: `clusters/${clusterName}/mappings/${name}`, before });
  forgetMappingPolicies(tx, clusterName, [name]);
}

/**
 * Create-or-replace of one mapping (PUT of the item): the same checks as createMapping, and for a replace the
 * same as a whole-set PUT that changes only this mapping — its quotas counted without its old self, its
 * source checked for overlap with everything but itself, its policy kept (of the same family). The old row
 * and the new one change in one write, so one revision and one data-plane transaction replace it: its
 * traffic is never left unmapped in between. Unchanged input changes nothing.
 */
export function putMapping(tx: WriteContext, clusterName: string, input: MappingInput, quotaDefaults: Quotas = DEFAULT_CLUSTER_QUOTAS): { mapping: Mapping; created: boolean } {
  const cluster = requireCluster(tx.db, clusterName);
  const before = reads.getMapping(tx.db, clusterName, input.name);
  if (!before) return { mapping: createMapping(tx, clusterName, input, quotaDefaults), created: true };
  const checked = checkMapping(cluster, grantsOf(cluster), input, "");
  if (JSON.stringify(before) === JSON.stringify(checked.mapping)) return { mapping: before, created: false };
  const usage = reads.clusterUsage(tx.db, clusterName);
  const destinations = usage.destinations - destinationCount([before]) + destinationCount([checked.mapping]);
  assertWithinQuota(cluster, quotaDefaults, "destinations", usage.destinations, destinations);
  assertPoliciesKeepTheirFamily(tx, clusterName, [before], [{ ...checked, field: "" }]);
  rows.deleteMapping(tx.db, clusterName, before.name);
  assertNoOverlapWithStore(tx, checked);
  rows.insertMapping(tx.db, checked.mapping, checked.source, tx.now);
  tx.audit({ action: "update", resource: `clusters/${clusterName}/mappings/${input.name}`, before, after: checked.mapping });
  return { mapping: checked.mapping, created: false };
}

/**
 * JSON merge patch (RFC 7396) of one existing mapping: members of `patch` replace the mapping's, `null`
 * removes one (a list becomes empty, a label goes), `labels` merges key by key. The result must be a valid
 * mapping, checked as putMapping checks it; the name cannot change (it is the key).
 */
export function patchMapping(tx: WriteContext, clusterName: string, name: string, patch: Record<string, unknown>, quotaDefaults: Quotas = DEFAULT_CLUSTER_QUOTAS): Mapping {
  requireCluster(tx.db, clusterName);
  const before = reads.getMapping(tx.db, clusterName, name);
  if (!before) throw new AppError("not-found", `cluster ${clusterName} has no mapping named ${name}`);
  if ("name" in patch && patch.name !== name) throw invalidField("name", "the name is the mapping's key and cannot change; create a new mapping instead");
  const { cluster: _cluster, ...current } = before;
  const merged = mergePatch(current, patch);
  const parsed = mappingInput.safeParse(merged);
  if (!parsed.success) {
    const fields = fieldProblemsFromZod(parsed.error);
    throw new AppError("validation-failed", fields.map((f) => `${f.field || "body"}: ${f.reason}`).join("; "), { fields });
  }
  return putMapping(tx, clusterName, parsed.data, quotaDefaults).mapping;
}

/** RFC 7396 section 2, for JSON values. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> = target !== null && typeof target === "object" && !Array.isArray(target) ? { ...target as Record<string, unknown> } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}
