import type { z } from "zod";
import { description, dnsLabel, mappingInput, routeInput } from "../../schemas/inputs.js";
import { AppError } from "../../errors.js";
import { parsePrefix, type Prefix } from "../../net/cidr.js";
import { rangeColumns } from "../../store/range-columns.js";
import { getMapping } from "../../store/reads.js";
import { fieldProblemsFromZod } from "../../validation.js";
import { checkEgressIpAddress } from "../egress-ips.js";
import { checkMapping } from "../mappings.js";
import { overlapProblem, parsePrefixList, sortedCidrs } from "../prefix-lists.js";
import { checkRoute } from "../routes.js";
import { floorInput, policyInput } from "../../schemas/policy-inputs.js";
import { assertWithinSize, checkFloor, checkPolicy } from "../policy-check.js";
import type { Row } from "./context.js";
import { rowRule, text, timestampProblem, type InvariantRule } from "./rule.js";

/**
 * Rules about single rows: each row is re-derived through the same schema and service checks an API
 * write of it would pass, and the stored form must equal what the service would have stored (canonical
 * text, range columns, JSON encoding). Anything else was not written by a correct leader.
 *
 * Not here because the schema already makes them impossible (a message that tries is refused as
 * `store-constraint`): an egress IP granted to two clusters (cluster_egress_ips is keyed by address), rows
 * of clusters or egress IPs that do not exist (foreign keys), two tokens with one hash (UNIQUE).
 */
export const ROW_RULES: InvariantRule[] = [
  rowRule("egress-ip-valid", "egress_ips", (row, ctx) => {
    const parsed = checkEgressIpAddress(text(row, "address"), ctx.own);
    if (parsed.address !== row["address"]) return `address ${String(row["address"])} is not in canonical form (${parsed.address})`;
    if (row["family"] !== parsed.family) return `family ${String(row["family"])} for an IPv${parsed.family} address`;
    return schemaProblem(description, row["description"], "description") ?? timestampProblem(row, ["created_at", "updated_at"]);
  }),

  rowRule("cluster-valid", "clusters", (row) =>
    schemaProblem(dnsLabel, row["name"], "name") ?? schemaProblem(description, row["description"], "description")
      ?? excludableProblem(row) ?? timestampProblem(row, ["created_at", "updated_at"]), "written"),

  rowRule("source-range-valid", "cluster_source_ranges", (row) => rangeProblem(row, "cidr"), "written"),

  rowRule("token-valid", "tokens", (row) => {
    // Ids come from randomBytes(6) as hex (service/tokens.ts), the same pattern the API's token routes accept.
    if (!/^[0-9a-f]{12}$/.test(text(row, "id"))) return `token id ${JSON.stringify(row["id"])} is not 12 hex digits`;
    const hash = row["hash"];
    if (!Buffer.isBuffer(hash) || hash.length !== 32) return "the token hash is not a 32-byte SHA-256 digest";
    return schemaProblem(description, row["description"], "description") ?? timestampProblem(row, ["created_at", "revoked_at"], ["revoked_at"]);
  }, "written"),

  rowRule("mapping-valid", "mappings", (row, ctx) => {
    const owner = ctx.cluster(text(row, "cluster"));
    if (!owner) return `cluster ${String(row["cluster"])} does not exist`;
    const input = {
      name: row["name"], sourceCidr: row["source_cidr"], egressIp: row["egress_ip"],
      destinations: jsonColumn(row, "destinations"), excludedDestinations: jsonColumn(row, "excluded_destinations"), labels: jsonColumn(row, "labels"),
    };
    const parsed = mappingInput.safeParse(input);
    if (!parsed.success) return zodDetail(parsed.error);
    // The API's own check: source inside the cluster's ranges, egress IP granted to it, one address family.
    const { mapping, source } = checkMapping(owner.cluster, owner.grants, parsed.data, "");
    return differs(row, {
      source_cidr: mapping.sourceCidr, egress_ip: mapping.egressIp, destinations: JSON.stringify(mapping.destinations),
      excluded_destinations: JSON.stringify(mapping.excludedDestinations), labels: JSON.stringify(mapping.labels),
    }) ?? rangeColumnsProblem(row, source) ?? timestampProblem(row, ["created_at", "updated_at"]);
  }),

  rowRule("route-valid", "routes", (row, ctx) => {
    const owner = ctx.cluster(text(row, "cluster"));
    if (!owner) return `cluster ${String(row["cluster"])} does not exist`;
    const parsed = routeInput.safeParse({ prefix: row["prefix"], via: row["via"] });
    if (!parsed.success) return zodDetail(parsed.error);
    // The API's own check: inside the cluster's ranges, a unicast next hop of the same family, not ours.
    const { route, prefix } = checkRoute(owner.cluster, owner.ranges, parsed.data, "", ctx.own);
    return differs(row, { prefix: route.prefix, via: route.via }) ?? rangeColumnsProblem(row, prefix) ?? timestampProblem(row, ["created_at", "updated_at"]);
  }),

  // Floors are not re-checked against policies here: a floor may tighten after a policy was stored (the data plane
  // applies it first), so a stored policy that a floor now overrides is legitimate.
  rowRule("policy-valid", "egress_policies", (row, ctx) => {
    const owner = ctx.cluster(text(row, "cluster"));
    if (!owner) return `cluster ${String(row["cluster"])} does not exist`;
    const mapping = text(row, "mapping");
    let family: 4 | 6 | undefined;
    if (mapping !== "") {
      const target = getMapping(ctx.db, text(row, "cluster"), mapping);
      if (!target) return `mapping ${mapping} of cluster ${String(row["cluster"])} does not exist`;
      family = parsePrefix(target.sourceCidr, "sourceCidr").family;
    }
    const parsed = policyInput.safeParse(jsonColumn(row, "policy"));
    if (!parsed.success) return zodDetail(parsed.error);
    const policy = checkPolicy(parsed.data, family);
    assertWithinSize(policy, family);
    return differs(row, { policy: JSON.stringify(policy) }) ?? timestampProblem(row, ["created_at", "updated_at"]);
  }, "written"),

  rowRule("floor-valid", "policy_floors", (row, ctx) => {
    const scope = text(row, "scope");
    if (scope !== "*" && !ctx.cluster(scope)) return `cluster ${scope} does not exist`;
    const parsed = floorInput.safeParse({ rules: jsonColumn(row, "rules") });
    if (!parsed.success) return zodDetail(parsed.error);
    return differs(row, { rules: JSON.stringify(checkFloor(parsed.data)) }) ?? timestampProblem(row, ["created_at", "updated_at"]);
  }, "written"),

  rowRule("audit-record-valid", "audit_log", (row) => {
    if (!Number.isInteger(row["revision"]) || (row["revision"] as number) < 0) return `revision ${String(row["revision"])} is not a revision number`;
    for (const column of ["actor", "action", "resource"]) if (text(row, column) === "") return `column ${column} is empty`;
    for (const column of ["before", "after"]) if (row[column] !== null) jsonColumn(row, column);
    return timestampProblem(row, ["at"]);
  }, "written"),
];

function schemaProblem(schema: z.ZodType, value: unknown, column: string): string | undefined {
  const result = schema.safeParse(value);
  return result.success ? undefined : `${column}: ${zodDetail(result.error)}`;
}

function zodDetail(error: z.ZodError): string {
  return fieldProblemsFromZod(error).map((f) => (f.field ? `${f.field}: ${f.reason}` : f.reason)).join("; ");
}

function jsonColumn(row: Row, column: string): unknown {
  const value = text(row, column);
  try {
    return JSON.parse(value);
  } catch {
    throw new AppError("validation-failed", `column ${column} is not well-formed JSON`);
  }
}

function differs(row: Row, canonical: Record<string, string>): string | undefined {
  for (const [column, value] of Object.entries(canonical)) {
    if (row[column] !== value) return `column ${column} holds ${JSON.stringify(row[column])}, not the canonical ${JSON.stringify(value)}`;
  }
  return undefined;
}

function rangeProblem(row: Row, column: string): string | undefined {
  const prefix = parsePrefix(text(row, column), column);
  return differs(row, { [column]: prefix.cidr }) ?? rangeColumnsProblem(row, prefix);
}

/** family, range_start and range_end must be exactly what the overlap queries expect for the prefix. */
function rangeColumnsProblem(row: Row, prefix: Prefix): string | undefined {
  const range = rangeColumns(prefix);
  if (row["family"] !== range.family) return `family ${String(row["family"])} for ${prefix.cidr}`;
  for (const [column, expected] of [["range_start", range.start], ["range_end", range.end]] as const) {
    const stored = row[column];
    if (!Buffer.isBuffer(stored) || !stored.equals(expected)) return `${column} does not match ${prefix.cidr}`;
  }
  return undefined;
}

/**
 * The exclusion grant as the service stores it: canonical prefixes, none overlapping another, in canonical
 * order. A grant is what lets a cluster's traffic leave with pod addresses, so a forged one is refused.
 */
function excludableProblem(row: Row): string | undefined {
  const list = jsonColumn(row, "excludable_destinations");
  if (!Array.isArray(list) || !list.every((item) => typeof item === "string")) return "excludable_destinations is not a list of prefixes";
  const parsed = parsePrefixList(list as string[], "excludableDestinations");
  const overlap = overlapProblem(parsed);
  if (overlap) return `excludable destinations: ${overlap.field} ${overlap.reason}`;
  const canonical = JSON.stringify(sortedCidrs(parsed));
  return canonical === row["excludable_destinations"] ? undefined : `excludable_destinations ${String(row["excludable_destinations"])} is not in canonical form (${canonical})`;
}
