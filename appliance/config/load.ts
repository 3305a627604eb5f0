import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { AppError, errorMessage, type FieldProblem } from "../errors.js";
import { configSchema, type Config } from "./schema.js";
import { fieldProblemsFromZod } from "../validation.js";

/** Reads, parses and validates the config file; relative paths in it are relative to the file. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new AppError("config-invalid", `cannot read config file ${path}: ${errorMessage(error)}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new AppError("config-invalid", `config file ${path} is not valid YAML/JSON: ${errorMessage(error)}`, { cause: error });
  }
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const fields = fieldProblemsFromZod(parsed.error);
    throw new AppError("config-invalid", `config file ${path} is not valid:\n${formatFields(fields)}`, { fields });
  }
  return resolvePaths(parsed.data, dirname(resolve(path)));
}

function resolvePaths(config: Config, base: string): Config {
  const at = (p: string) => resolve(base, p);
  return {
    ...config,
    api: {
      ...config.api,
      adminTokenFile: at(config.api.adminTokenFile),
      tls: config.api.tls && {
        ...config.api.tls,
        cert: at(config.api.tls.cert),
        key: at(config.api.tls.key),
        ...(config.api.tls.clientCa ? { clientCa: at(config.api.tls.clientCa) } : {}),
      },
    },
    database: { path: at(config.database.path) },
    metrics: { ...config.metrics, ...(config.metrics.tokenFile ? { tokenFile: at(config.metrics.tokenFile) } : {}) },
    ...(config.ha ? {
      ha: {
        ...config.ha,
        runDirectory: at(config.ha.runDirectory),
        tls: { cert: at(config.ha.tls.cert), key: at(config.ha.tls.key), peerCertificates: at(config.ha.tls.peerCertificates) },
        ...(config.ha.keepalivedConfigPath ? { keepalivedConfigPath: at(config.ha.keepalivedConfigPath) } : {}),
        ...(config.ha.conntrackdConfigPath ? { conntrackdConfigPath: at(config.ha.conntrackdConfigPath) } : {}),
      },
    } : {}),
  };
}

export function formatFields(fields: FieldProblem[]): string {
  return fields.map((f) => `  - ${f.field || "(root)"}: ${f.reason}`).join("\n");
}

/** The admin token is a secret: it lives in its own file so the config can be shared and versioned. */
export function readAdminToken(path: string, what = "admin token", field = "api.adminTokenFile"): { token: string; warnings: string[] } {
  const warnings: string[] = [];
  let text: string;
  try {
    text = readFileSync(path, "utf8");
    if ((statSync(path).mode & 0o077) !== 0) warnings.push(`${what} file ${path} is readable by group or others; chmod 600 it`);
  } catch (error) {
    throw new AppError("config-invalid", `cannot read ${what} file ${path}: ${errorMessage(error)}`, { cause: error });
  }
  const token = text.trim();
  if (token.length < 32) {
    throw new AppError("config-invalid", `${what} in ${path} must be at least 32 characters`, {
      fields: [{ field, reason: `${what} shorter than 32 characters` }],
    });
  }
  return { token, warnings };
}
