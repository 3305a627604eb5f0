import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { AppError, errorMessage } from "../errors.js";

/** A YAML or JSON document from a file ("-": stdin), or a 422-style error that names the file. */
export function readDocument(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (error) {
    throw new AppError("validation-failed", `cannot read ${path}: ${errorMessage(error)}`, { cause: error });
  }
  try {
    return parseYaml(text);
  } catch (error) {
    throw new AppError("validation-failed", `${path} is not valid YAML or JSON: ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * A whole set from a file: a YAML or JSON list, or an object with that list under `kind` ("mappings", "routes"),
 * each item an object with a string `keyField`. Everything else is checked by the daemon, which names the field.
 */
export function readSetDocument<T>(path: string, kind: string, keyField: string): T[] {
  const raw = readDocument(path);
  const items = Array.isArray(raw) ? raw : (raw as Record<string, unknown> | null)?.[kind];
  if (!Array.isArray(items)) throw new AppError("validation-failed", `${path} must hold a list of ${kind}, or an object with a "${kind}" list`);
  items.forEach((item, i) => {
    if (!item || typeof item !== "object" || typeof (item as Record<string, unknown>)[keyField] !== "string") {
      throw new AppError("validation-failed", `${path}: ${kind}.${i} must be an object with a ${keyField}`);
    }
  });
  return items as T[];
}
