import { AppError } from "../../errors.js";
import { TABLES_BY_NAME } from "../../store/replicated-tables.js";
import type { InvariantContext, Row, Violation } from "./context.js";

/**
 * One rule of the store. `check` returns the first row in scope that breaks it. Service functions that
 * a rule reuses report problems by throwing AppError, as they do for the API; the runner turns that into
 * a violation of the rule that called them.
 */
export interface InvariantRule {
  /** Stable kebab-case name, reported in the problem document and the log. */
  name: string;
  table: string;
  check(ctx: InvariantContext): Violation | undefined;
}

export function keyOf(table: string, row: Row): Record<string, unknown> {
  return Object.fromEntries((TABLES_BY_NAME.get(table)?.primaryKey ?? []).map((c) => [c, row[c]]));
}

/** A rule judged one row at a time: `problem` returns what is wrong with the row, or undefined. */
export function rowRule(
  name: string,
  table: string,
  problem: (row: Row, ctx: InvariantContext) => string | undefined,
  rows: "dependents" | "written" = "dependents",
): InvariantRule {
  return {
    name, table,
    check(ctx) {
      for (const row of rows === "written" ? ctx.touched(table) : ctx.rows(table)) {
        let detail: string | undefined;
        try {
          detail = problem(row, ctx);
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          detail = error.message;
        }
        if (detail !== undefined) return { rule: name, table, key: keyOf(table, row), detail };
      }
      return undefined;
    },
  };
}

/** A column's value as text, or an AppError naming the column (the runner reports it). */
export function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw new AppError("validation-failed", `column ${column} is ${value === null ? "null" : typeof value}, not text`);
  return value;
}

/** ISO 8601 timestamps, as the store writes them (`new Date().toISOString()`). */
export function timestampProblem(row: Row, columns: string[], nullable: string[] = []): string | undefined {
  for (const column of columns) {
    const value = row[column];
    if (value === null && nullable.includes(column)) continue;
    if (typeof value !== "string" || Number.isNaN(Date.parse(value)) || !/^\d{4}-\d\d-\d\dT/.test(value)) {
      return `column ${column} is not an ISO 8601 timestamp: ${JSON.stringify(value)}`;
    }
  }
  return undefined;
}
