import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { AppError, errorMessage } from "../errors.js";
import { createEgwClient, type EgwClient, type Target } from "../../client/src/index.js";

export const DEFAULT_CONFIG = "/etc/egw/egw.yaml";
export const DEFAULT_SOCKET = "/run/egw/api.sock";

/** Options every command that talks to the daemon's API accepts. */
export const CONNECTION_OPTIONS = {
  socket: { type: "string" },
  url: { type: "string" },
  "token-file": { type: "string" },
  config: { type: "string" },
  json: { type: "boolean", default: false },
} as const;

export const CONNECTION_USAGE = `connection (every command that calls the API):
  --socket PATH       the API's unix socket (default: $EGW_SOCKET, else the unix: listener in --config,
                      else /run/egw/api.sock)
  --url URL           the API over TCP instead (default: $EGW_URL), e.g. https://172.31.0.2:8080
  --token-file FILE   the bearer token (default: $EGW_TOKEN, else the file $EGW_TOKEN_FILE, else the
                      config's api.adminTokenFile)
  --config FILE       the daemon's config (default: /etc/egw/egw.yaml)
  --json              machine-readable output`;

export interface ConnectionFlags {
  socket?: string | undefined;
  url?: string | undefined;
  "token-file"?: string | undefined;
  config?: string | undefined;
}

export interface Connection {
  endpoint: Target;
  token: string | undefined;
  /** Where the token came from, for error hints ("--token-file", "EGW_TOKEN", a file path, or "none"). */
  tokenSource: string;
}

/** What the CLI takes from the daemon's config: only the API socket and the admin token file. */
interface ConfigHints {
  socket?: string;
  adminTokenFile?: string;
}

/**
 * Finds the API and the token: flags first, then the environment (EGW_URL, EGW_SOCKET, EGW_TOKEN,
 * EGW_TOKEN_FILE), then the daemon's config file (its unix: listener and admin token file), then the
 * default socket. The config is read leniently: a config the daemon would reject still names its socket.
 */
export function resolveConnection(flags: ConnectionFlags, env: Record<string, string | undefined>): Connection {
  const hints = configHints(flags.config);
  const url = flags.url ?? (flags.socket ? undefined : env["EGW_URL"]);
  let endpoint: Target;
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new AppError("config-invalid", `--url ${JSON.stringify(url)} is not a URL (e.g. https://172.31.0.2:8080)`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new AppError("config-invalid", `--url must be http:// or https://, not ${parsed.protocol}`);
    endpoint = { url: parsed };
  } else {
    endpoint = { socket: flags.socket ?? env["EGW_SOCKET"] ?? hints.socket ?? DEFAULT_SOCKET };
  }

  if (flags["token-file"]) return { endpoint, token: readToken(flags["token-file"]), tokenSource: flags["token-file"] };
  if (env["EGW_TOKEN"]) return { endpoint, token: env["EGW_TOKEN"].trim(), tokenSource: "EGW_TOKEN" };
  if (env["EGW_TOKEN_FILE"]) return { endpoint, token: readToken(env["EGW_TOKEN_FILE"]), tokenSource: env["EGW_TOKEN_FILE"] };
  if (hints.adminTokenFile) {
    try {
      return { endpoint, token: readToken(hints.adminTokenFile), tokenSource: hints.adminTokenFile };
    } catch {
      // Not readable (not root): the API will say 401 and the hint names the options.
    }
  }
  return { endpoint, token: undefined, tokenSource: "none" };
}

/** The typed API client (client/, generated from the OpenAPI document) for these connection settings. */
export function connect(flags: ConnectionFlags, env: Record<string, string | undefined>): EgwClient {
  const connection = resolveConnection(flags, env);
  return createEgwClient({ ...connection.endpoint, token: connection.token });
}

/**
 * A number for the API's query, from the command line's text. Text that is not a whole number goes as it is: the
 * daemon refuses it with a problem that names the parameter and quotes the operator's own text.
 */
export function numberParam(text: string): number {
  return /^\d{1,15}$/.test(text) ? Number(text) : (text as unknown as number);
}

function readToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new AppError("config-invalid", `cannot read token file ${path}: ${errorMessage(error)}`, { cause: error });
  }
  const token = text.trim();
  if (!token) throw new AppError("config-invalid", `token file ${path} is empty`);
  return token;
}

function configHints(explicit: string | undefined): ConfigHints {
  const path = explicit ?? DEFAULT_CONFIG;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (explicit) throw new AppError("config-invalid", `cannot read config file ${path}: ${errorMessage(error)}`, { cause: error });
    return {};
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch {
    return {};
  }
  const api = (raw as { api?: { listen?: unknown; adminTokenFile?: unknown } } | null)?.api;
  const base = dirname(resolve(path));
  const listen = Array.isArray(api?.listen) ? api.listen : [];
  const unix = listen.find((l): l is string => typeof l === "string" && l.startsWith("unix:"));
  return {
    ...(unix ? { socket: resolve(base, unix.slice("unix:".length)) } : {}),
    ...(typeof api?.adminTokenFile === "string" ? { adminTokenFile: resolve(base, api.adminTokenFile) } : {}),
  };
}
