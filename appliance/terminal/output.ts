import { AppError, errorMessage } from "../errors.js";
import { UsageError, type CliIo } from "./io.js";

/**
 * Text from the API shown with its control characters made visible (\n, \x1b, \u009b…): a label or
 * description stored before the API refused them must not move the cursor, recolour or retitle the
 * operator's terminal, nor forge a line of output. Backslashes are left alone: this is for eyes, not parsers.
 */
export function escapeControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    const code = ch.charCodeAt(0);
    return named[ch] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`);
  });
}

/** A plain text table: a header row, columns padded to their widest cell, two spaces apart. Cells are escaped. */
export function table(headers: string[], cells: string[][]): string {
  if (cells.length === 0) return "(none)\n";
  const rows = cells.map((row) => row.map(escapeControl));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return `${[line(headers), ...rows.map(line)].join("\n")}\n`;
}

/** "key  value" lines with the keys aligned; a list value takes one line per item. Values are escaped. */
export function fields(pairs: [string, string | string[]][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  const line = (key: string, value: string) => `${key.padEnd(width)}  ${escapeControl(value)}`.trimEnd();
  return `${pairs.flatMap(([k, v]) => (typeof v === "string" ? [line(k, v)] : v.map((item, i) => line(i === 0 ? k : "", item)))).join("\n")}\n`;
}

/** JSON.stringify escapes C0 controls but not DEL or C1 ones, which some terminals obey; those are escaped too. */
export function printJson(io: CliIo, value: unknown): void {
  const text = JSON.stringify(value, null, 2).replace(/[\u007f-\u009f]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
  io.stdout(`${text}\n`);
}

/** Short text for a list cell. */
export function list(values: readonly string[] | undefined): string {
  return values && values.length > 0 ? values.join(", ") : "-";
}

/**
 * Reports an error on stderr and returns the exit status: 2 for usage errors, 78 for an invalid config,
 * 1 for everything else.
 */
export function reportFailure(io: CliIo, error: unknown): number {
  if (error instanceof UsageError) {
    io.stderr(`egw: ${error.message}\n\n${error.usage}\n`);
    return 2;
  }
  io.stderr(`egw: ${errorMessage(error)}\n`);
  return error instanceof AppError && error.code === "config-invalid" ? 78 : 1;
}
