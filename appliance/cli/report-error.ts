import { escapeControl, reportFailure } from "../terminal/output.js";
import type { CliIo } from "../terminal/io.js";
import { EgwApiError } from "../../client/src/index.js";

/** Exit status 1 is kept for "differences found" (as diff(1) does): every error of an egw command is 2 or more. */
export const EXIT_TROUBLE = 2;

/**
 * Reports an error of an egw command on stderr and returns the exit status: 2 for trouble of any kind (a usage
 * mistake, a refusal of the API, an unreachable daemon, a failed step), 78 for an invalid config (EX_CONFIG, which
 * systemd does not restart). A problem document from the API is shown with its detail and its field list.
 */
export function reportError(io: CliIo, error: unknown): number {
  if (!(error instanceof EgwApiError)) {
    const status = reportFailure(io, error);
    return status === 1 ? EXIT_TROUBLE : status;
  }
  const p = error.problem;
  // The detail and reasons may quote what was sent (or stored): shown escaped, like everything from the API.
  io.stderr(`egw: ${error.method} ${escapeControl(error.path)}: ${error.status}${p.code ? ` ${escapeControl(p.code)}` : ""}: ${escapeControl(error.message)}\n`);
  for (const field of p.fields ?? []) {
    // The detail usually repeats a single field's reason: list fields only when they add something.
    if (!error.message.includes(field.reason)) io.stderr(`  - ${escapeControl(field.field || "(body)")}: ${escapeControl(field.reason)}\n`);
  }
  if (error.status === 401) io.stderr("  (pass the admin token with --token-file FILE or EGW_TOKEN)\n");
  return EXIT_TROUBLE;
}
