import { AppError } from "../../errors.js";
import type { Db } from "../../store/database.js";
import type { OwnAddresses } from "../own-addresses.js";
import { InvariantContext, type Violation } from "./context.js";
import { OVERLAP_RULES } from "./overlap-rules.js";
import { ROW_RULES } from "./row-rules.js";
import type { InvariantRule } from "./rule.js";

export { emptyScope, fullScope, observeChange, type InvariantScope } from "./scope.js";
export type { Violation } from "./context.js";
export type { InvariantRule } from "./rule.js";

/**
 * Every rule the store must hold, whoever wrote its rows: the API through the service layer, or the
 * leader through replication. The one place to plug a new rule in (a quota, an exclusion grant): add it
 * here and every replicated change and snapshot is checked against it. Row rules come first, so that the
 * overlap rules only ever compare well-formed range columns.
 */
export const STORE_RULES: readonly InvariantRule[] = [...ROW_RULES, ...OVERLAP_RULES];

export function findViolation(db: Db, scope: InvariantContext["scope"], own: OwnAddresses, rules: readonly InvariantRule[] = STORE_RULES): Violation | undefined {
  const ctx = new InvariantContext(db, scope, own);
  for (const rule of rules) {
    const violation = rule.check(ctx);
    if (violation) return violation;
  }
  return undefined;
}

/** Throws `replication-refused`, naming the rule and the row, when the store breaks a rule within `scope`. */
export function assertStoreInvariants(db: Db, scope: InvariantContext["scope"], own: OwnAddresses, rules?: readonly InvariantRule[]): void {
  const violation = findViolation(db, scope, own, rules);
  if (!violation) return;
  throw new AppError("replication-refused",
    `rule ${violation.rule} broken by ${violation.table} ${JSON.stringify(violation.key)}: ${violation.detail}`,
    { extra: { rule: violation.rule, table: violation.table, key: violation.key } });
}
