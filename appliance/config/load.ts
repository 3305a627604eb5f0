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
      ...(config.api.adminTokenFile === undefined ? {} : { adminTokenFile: at(config.api.adminTokenFile) }),
      adminTokens: config.api.adminTokens.map((entry) => ({ name: entry.name, file: at(entry.file) })),
      tls: config.api.tls && {
        ...config.api.tls,
        cert: at(config.api.tls.cert),
        key: at(config.api.tls.key),
        ...(config.api.tls.clientCa ? { clientCa: at(config.api.tls.clientCa) } : {}),
      },
    },
    database: { ...config.database, path: at(config.database.path) },
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
  const weakness = tokenWeakness(token);
  if (weakness) {
    throw new AppError("config-invalid", `${what} in ${path} is too easy to guess: ${weakness}; generate one with \`head -c 32 /dev/urandom | base64\``, {
      fields: [{ field, reason: `${what} ${weakness}` }],
    });
  }
  return { token, warnings };
}

/**
 * Every admin token of the config, each with the name it is audited under ("admin" for api.adminTokenFile),
 * and the warnings (loose file permissions) the caller must log.
 */
export function readAdminTokens(api: Config["api"]): { tokens: { name: string; token: string }[]; warnings: string[] } {
  const files = [
    ...(api.adminTokenFile === undefined ? [] : [{ name: "admin", file: api.adminTokenFile, field: "api.adminTokenFile" }]),
    ...api.adminTokens.map((entry, i) => ({ name: entry.name, file: entry.file, field: `api.adminTokens.${i}.file` })),
  ];
  const tokens: { name: string; token: string }[] = [];
  const warnings: string[] = [];
  for (const entry of files) {
    const read = readAdminToken(entry.file, `admin token ${entry.name}`, entry.field);
    // One secret under two names would make the audit log name whichever comes last.
    const twin = tokens.find((t) => t.token === read.token);
    if (twin) {
      throw new AppError("config-invalid", `admin tokens ${twin.name} and ${entry.name} are the same secret; give each its own`,
        { fields: [{ field: entry.field, reason: `same token as admin token ${twin.name}` }] });
    }
    tokens.push({ name: entry.name, token: read.token });
    warnings.push(...read.warnings);
  }
  return { tokens, warnings };
}

const MIN_TOKEN_BITS = 128;
const MIN_DISTINCT_CHARACTERS = 8;
const LONGEST_REPEAT = 12;

/**
 * Why a token is guessable, or undefined. A rough estimate, not a proof of randomness: it catches what
 * people type by hand (a short alphabet, a repeated word, a run of one key) and passes what `openssl rand`
 * or /dev/urandom produce: 32 hex digits (128 bits) or more, base64 of 16 bytes or more.
 */
export function tokenWeakness(token: string): string | undefined {
  const distinct = new Set(token).size;
  if (distinct < MIN_DISTINCT_CHARACTERS) return `uses only ${distinct} distinct characters`;
  // The repeated text itself is not quoted: error messages end up in logs, and it is part of a secret.
  if (repeatedRun(token, LONGEST_REPEAT)) return `repeats a run of ${LONGEST_REPEAT} or more characters`;
  const bits = Math.floor(token.length * Math.log2(alphabetSize(token)));
  if (bits < MIN_TOKEN_BITS) return `holds about ${bits} bits, fewer than ${MIN_TOKEN_BITS}`;
  return undefined;
}

/** The size of the smallest usual alphabet the token is written in (hex, digits, letters, base64, printable). */
function alphabetSize(token: string): number {
  if (/^[0-9]+$/.test(token)) return 10;
  if (/^[0-9a-f]+$/.test(token) || /^[0-9A-F]+$/.test(token)) return 16;
  let size = 0;
  if (/[a-z]/.test(token)) size += 26;
  if (/[A-Z]/.test(token)) size += 26;
  if (/[0-9]/.test(token)) size += 10;
  if (/[^a-zA-Z0-9]/.test(token)) size += 33;
  return size;
}

/** Whether some `length` characters occur twice (overlapping counts, so a long run of one key does too). */
function repeatedRun(token: string, length: number): boolean {
  const seen = new Set<string>();
  for (let i = 0; i + length <= token.length; i++) {
    const piece = token.slice(i, i + length);
    if (seen.has(piece)) return true;
    seen.add(piece);
  }
  return false;
}
