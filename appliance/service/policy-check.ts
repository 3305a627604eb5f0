import { AppError, type FieldProblem } from "../errors.js";
import type { EgressPolicy, FloorRule, PolicyDestination, PolicyFloor, PolicyPort, PolicyProtocol, PolicyRule } from "../model.js";
import { parsePrefix, prefixContains, type Family, type Prefix } from "../net/cidr.js";
import { checkDnsName } from "../policy/dns-name.js";
import { floorConflicts, policyElementCount } from "../policy/compile.js";
import { POLICY_LIMITS, type FloorInput, type PolicyInput } from "../schemas/policy-inputs.js";

/** Protocols whose connections have ports a rule may name. */
const PORTED: readonly PolicyProtocol[] = ["tcp", "udp", "sctp"];

/**
 * Turns a submitted policy into its canonical form, or refuses it with every problem named by its field (422).
 * `family`: a mapping's policy must speak its mapping's family; a cluster's default (undefined) may mix both, each
 * applying to the mappings of its family.
 */
export function checkPolicy(input: PolicyInput, family: Family | undefined): EgressPolicy {
  // Counted before anything is parsed: an oversized policy costs no more than its refusal.
  const prefixes = input.rules.reduce((n, rule) => n + rule.destinations.reduce((m, d) => m + 1 + (d.except?.length ?? 0), 0), 0);
  if (prefixes > POLICY_LIMITS.prefixesPerPolicy) {
    throw new AppError("validation-failed", `the policy names ${prefixes} destinations and exceptions; at most ${POLICY_LIMITS.prefixesPerPolicy}`,
      { fields: [{ field: "rules", reason: `${prefixes} destinations and exceptions in all; at most ${POLICY_LIMITS.prefixesPerPolicy}` }] });
  }
  const problems: FieldProblem[] = [];
  const rules = input.rules.map((rule, i) => canonicalRule(rule, `rules.${i}`, family, true, problems));
  const names = new Set(rules.flatMap((rule) => rule.destinations.flatMap((d) => (d.name === undefined ? [] : [d.name]))));
  if (names.size > POLICY_LIMITS.namesPerPolicy) {
    problems.push({ field: "rules", reason: `names ${names.size} distinct DNS names; at most ${POLICY_LIMITS.namesPerPolicy}` });
  }
  refuseProblems(problems);
  return { mode: input.mode ?? "enforce", defaultAction: input.defaultAction ?? "deny", rules };
}

/** The canonical floor rules, or a 422 naming every problem. */
export function checkFloor(input: FloorInput): FloorRule[] {
  const problems: FieldProblem[] = [];
  const rules = input.rules.map((rule, i) => canonicalRule(rule, `rules.${i}`, undefined, false, problems));
  refuseProblems(problems);
  return rules;
}

/**
 * Refuses (403 floor-conflict) a policy that allows, by prefix, anything a floor denies, naming each allowing
 * destination and the floor rule. DNS names cannot be checked before they resolve; the data plane applies the
 * floors before any policy, so what a name resolves to is still refused there.
 */
export function assertWithinFloors(policy: EgressPolicy, floors: readonly PolicyFloor[]): void {
  const conflicts = ([4, 6] as const).flatMap((family) => floorConflicts(policy, family, floors));
  if (conflicts.length === 0) return;
  const fields = conflicts.map((c) => ({
    field: `rules.${c.rule}.destinations.${c.destination}`,
    reason: `allows ${c.overlap}, which rule ${c.floorRule} of the ${c.floorCluster === null ? "global floor" : `floor of cluster ${c.floorCluster}`} denies`,
  }));
  const first = fields[0] as FieldProblem;
  throw new AppError("floor-conflict", `${first.field} ${first.reason}${fields.length > 1 ? ` (and ${fields.length - 1} more)` : ""}`,
    { fields, extra: { conflicts } });
}

function refuseProblems(problems: FieldProblem[]): void {
  if (problems.length === 0) return;
  throw new AppError("validation-failed", problems.map((p) => `${p.field}: ${p.reason}`).join("; "), { fields: problems });
}

interface RuleInput {
  description?: string | undefined;
  destinations: { cidr?: string | undefined; except?: string[] | undefined; name?: string | undefined }[];
  protocol?: PolicyProtocol | undefined;
  ports?: { port: number; endPort?: number | undefined }[] | undefined;
}

function canonicalRule(rule: RuleInput, field: string, family: Family | undefined, namesAllowed: boolean, problems: FieldProblem[]): PolicyRule {
  const destinations = rule.destinations.flatMap((d, j) => {
    const destination = canonicalDestination(d, `${field}.destinations.${j}`, family, namesAllowed, problems);
    return destination ? [destination] : [];
  });
  const ports = (rule.ports ?? []).flatMap((p, j) => {
    const port = canonicalPort(p, `${field}.ports.${j}`, problems);
    return port ? [port] : [];
  });
  if (ports.length > 0 && (rule.protocol === undefined || !PORTED.includes(rule.protocol))) {
    problems.push({ field: `${field}.ports`, reason: `ports need protocol tcp, udp or sctp (${rule.protocol === undefined ? "no protocol given: every protocol" : rule.protocol} has no ports)` });
  }
  return {
    description: rule.description ?? "",
    destinations,
    ...(rule.protocol === undefined ? {} : { protocol: rule.protocol }),
    ports: ports.sort((a, b) => a.port - b.port || (a.endPort ?? a.port) - (b.endPort ?? b.port)),
  };
}

function canonicalDestination(
  d: RuleInput["destinations"][number], field: string, family: Family | undefined, namesAllowed: boolean, problems: FieldProblem[],
): PolicyDestination | undefined {
  if ((d.cidr === undefined) === (d.name === undefined)) {
    problems.push({ field, reason: namesAllowed ? "needs exactly one of cidr and name" : "needs a cidr" });
    return undefined;
  }
  if (d.name !== undefined) {
    if (d.except !== undefined) problems.push({ field: `${field}.except`, reason: "only a cidr has exceptions" });
    return attempt(problems, () => ({ name: checkDnsName(d.name as string, `${field}.name`) }));
  }
  const block = attempt(problems, () => parsePrefix(d.cidr as string, `${field}.cidr`));
  if (!block) return undefined;
  if (family !== undefined && block.family !== family) {
    problems.push({ field: `${field}.cidr`, reason: `IPv${block.family} prefix in the policy of an IPv${family} mapping` });
    return undefined;
  }
  const except: Prefix[] = [];
  (d.except ?? []).forEach((text, k) => {
    const carved = attempt(problems, () => parsePrefix(text, `${field}.except.${k}`));
    if (!carved) return;
    if (carved.family !== block.family || !prefixContains(block, carved) || carved.length <= block.length) {
      problems.push({ field: `${field}.except.${k}`, reason: `must lie inside ${block.cidr} and be smaller` });
      return;
    }
    except.push(carved);
  });
  const sorted = except.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.length - b.length)).map((p) => p.cidr);
  return { cidr: block.cidr, ...(sorted.length > 0 ? { except: [...new Set(sorted)] } : {}) };
}

function canonicalPort(p: { port: number; endPort?: number | undefined }, field: string, problems: FieldProblem[]): PolicyPort | undefined {
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
    problems.push({ field: `${field}.port`, reason: "must be 1-65535" });
    return undefined;
  }
  if (p.endPort === undefined || p.endPort === p.port) return { port: p.port };
  if (!Number.isInteger(p.endPort) || p.endPort < p.port || p.endPort > 65535) {
    problems.push({ field: `${field}.endPort`, reason: `must be ${p.port}-65535 (not below port)` });
    return undefined;
  }
  return { port: p.port, endPort: p.endPort };
}

/** Runs a parser that throws a one-field AppError; collects its problem instead of stopping at the first. */
function attempt<T>(problems: FieldProblem[], parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== "validation-failed") throw error;
    problems.push(...(error.fields.length > 0 ? error.fields : [{ field: "", reason: error.message }]));
    return undefined;
  }
}

/**
 * Refuses (422) a policy that would expand to more kernel elements than one mapping may hold (its prefixes,
 * carved by their exceptions, times its protocols and port ranges; DNS names count once resolved, not here).
 */
export function assertWithinSize(policy: EgressPolicy, family: Family | undefined): void {
  for (const f of family === undefined ? ([4, 6] as const) : [family]) {
    const elements = policyElementCount(policy, f);
    if (elements > POLICY_LIMITS.elementsPerMapping) {
      throw new AppError("validation-failed", `the policy expands to ${elements} kernel elements for an IPv${f} mapping; at most ${POLICY_LIMITS.elementsPerMapping}`,
        { fields: [{ field: "rules", reason: `expands to ${elements} kernel elements (IPv${f}); at most ${POLICY_LIMITS.elementsPerMapping}: merge ports into ranges or prefixes into larger ones` }] });
    }
  }
}
