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
