import type { z } from "zod";
import type { FieldProblem } from "./errors.js";

/** Turns a zod error into our per-field list, one entry per problem, with dotted paths. */
export function fieldProblemsFromZod(error: z.ZodError): FieldProblem[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ field: [...path, key].join("."), reason: "unknown field" }));
    }
    return [{ field: path.join("."), reason: issue.message }];
  });
}
