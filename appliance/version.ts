import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "./paths.js";

let known: string | undefined;

/**
 * The egw release running: the version of the installed package.json beside dist/ (the package build may stamp
 * it), read once at run time, never compiled in. "unknown" if the file cannot be read (a broken install must
 * still start and say so).
 */
export function egwVersion(): string {
  if (known === undefined) {
    try {
      const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version?: unknown };
      known = typeof version === "string" && version.trim() !== "" ? version.trim() : "unknown";
    } catch {
      known = "unknown";
    }
  }
  return known;
}
