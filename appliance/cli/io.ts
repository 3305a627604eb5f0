import { parseArgs, type ParseArgsConfig } from "node:util";
import { errorMessage } from "../errors.js";

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/** Where a command writes and what it reads from its environment: the real process, or a test's capture. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
};

/** A mistake on the command line: reported with the command's usage, exit status 2. */
export class UsageError extends Error {
  constructor(message: string, readonly usage: string) {
    super(message);
    this.name = "UsageError";
  }
}

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

type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/** parseArgs in strict mode, with its errors turned into usage errors. */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig>(args: string[], options: O, usage: string): Parsed<O> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true }) as Parsed<O>;
  } catch (error) {
    throw new UsageError(errorMessage(error), usage);
  }
}

/** The positional arguments a subcommand needs, or a usage error naming the first one missing. */
export function positionals(given: string[], names: string[], usage: string): string[] {
  if (given.length < names.length) throw new UsageError(`missing ${names[given.length]}`, usage);
  if (given.length > names.length) throw new UsageError(`unexpected argument ${JSON.stringify(given[names.length])}`, usage);
  return given;
}
