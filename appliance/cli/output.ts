import { AppError, errorMessage } from "../errors.js";
import { ApiError, ConnectionError } from "./api-client.js";
import { UsageError, type CliIo } from "./io.js";

/** A plain text table: a header row, columns padded to their widest cell, two spaces apart. */
export function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return "(none)\n";
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return `${[line(headers), ...rows.map(line)].join("\n")}\n`;
}

/** "key  value" lines with the keys aligned. */
export function fields(pairs: [string, string][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return `${pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join("\n")}\n`;
}

export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** Short text for a list cell. */
export function list(values: readonly string[] | undefined): string {
  return values && values.length > 0 ? values.join(", ") : "-";
}

/**
 * Reports an error on stderr and returns the exit status: 2 for usage errors, 78 for an invalid config,
 * 1 for everything else. A problem document from the API is shown with its detail and its field list.
 */
export function reportError(io: CliIo, error: unknown): number {
  if (error instanceof UsageError) {
    io.stderr(`egw: ${error.message}\n\n${error.usage}\n`);
    return 2;
  }
  if (error instanceof ApiError) {
    const p = error.problem;
    io.stderr(`egw: ${error.method} ${error.path}: ${error.status}${p.code ? ` ${p.code}` : ""}: ${error.message}\n`);
    for (const field of p.fields ?? []) {
      // The detail usually repeats a single field's reason: list fields only when they add something.
      if (!error.message.includes(field.reason)) io.stderr(`  - ${field.field || "(body)"}: ${field.reason}\n`);
    }
    if (error.status === 401) io.stderr("  (pass the admin token with --token-file FILE or EGW_TOKEN)\n");
    return 1;
  }
  if (error instanceof ConnectionError) {
    io.stderr(`egw: ${error.message}\n`);
    return 1;
  }
  io.stderr(`egw: ${errorMessage(error)}\n`);
  return error instanceof AppError && error.code === "config-invalid" ? 78 : 1;
}
