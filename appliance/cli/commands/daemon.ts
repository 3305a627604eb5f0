import { stringify as toYaml } from "yaml";
import { loadConfig } from "../../config/load.js";
import { createLogger } from "../../log.js";
import { Daemon } from "../../daemon.js";
import { AppError } from "../../errors.js";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../../terminal/io.js";
import { renderConfigReference } from "../config-reference.js";
import { renderOpenApi } from "../openapi.js";
import { versionText } from "../version-text.js";

export const SERVE_USAGE = `usage: egw serve --config FILE
  Runs the daemon in the foreground (the systemd unit egw.service does this). SIGTERM or SIGINT stop it;
  SIGHUP reloads its TLS certificates. Exit status 78 if the config cannot work (systemd does not restart then).`;
export const SERVE_OPTIONS = { config: { type: "string" } } as const;

export const CHECK_CONFIG_USAGE = `usage: egw check-config --config FILE
  Validates a config file as the daemon would at start and exits: "config is valid", or each invalid field
  with exit status 78.`;
export const CHECK_CONFIG_OPTIONS = SERVE_OPTIONS;

export const CONFIG_REFERENCE_USAGE = `usage: egw config-reference
  Prints the config file's reference (Markdown, docs/config.md), generated from the schema that validates it.`;

export const OPENAPI_FORMATS = ["json", "yaml", "markdown"] as const;
export const OPENAPI_USAGE = `usage: egw openapi [--format json|yaml|markdown]
  Prints the API's OpenAPI 3.1 document, the one the daemon serves at GET /openapi.json, built from the
  schemas that validate requests (no daemon needed): JSON (the default) or YAML for generators, Markdown
  for people (docs/api.md).`;
export const OPENAPI_OPTIONS = { format: { type: "string", default: "json" } } as const;

export const VERSION_USAGE = `usage: egw version   (or egw --version, or --version after any command)
  Prints egw's release and the replication protocol versions it speaks.`;

/** `--format X` checked against what a command can print: anything else is a usage error (exit status 2). */
export function checkFormat<F extends string>(format: string, formats: readonly F[], usage: string): F {
  if ((formats as readonly string[]).includes(format)) return format as F;
  throw new UsageError(`unknown --format ${JSON.stringify(format)}: use ${formats.join(", ")}`, usage);
}

export async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(args, SERVE_OPTIONS, SERVE_USAGE);
  positionals(rest, [], SERVE_USAGE);
  return serve(requireConfigPath(values.config));
}

export async function checkConfigCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(args, CHECK_CONFIG_OPTIONS, CHECK_CONFIG_USAGE);
  positionals(rest, [], CHECK_CONFIG_USAGE);
  loadConfig(requireConfigPath(values.config));
  io.stdout("config is valid\n");
  return 0;
}

export async function configReferenceCommand(args: string[], io: CliIo): Promise<number> {
  const { positionals: rest } = parseCommandArgs(args, {}, CONFIG_REFERENCE_USAGE);
  positionals(rest, [], CONFIG_REFERENCE_USAGE);
  io.stdout(renderConfigReference());
  return 0;
}

export async function openapiCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(args, OPENAPI_OPTIONS, OPENAPI_USAGE);
  positionals(rest, [], OPENAPI_USAGE);
  const format = checkFormat(values.format, OPENAPI_FORMATS, OPENAPI_USAGE);
  // YAML from the JSON text's data, so the two formats hold the very same document (no undefined members).
  io.stdout(format === "yaml" ? toYaml(JSON.parse(renderOpenApi("json")), { aliasDuplicateObjects: false }) : renderOpenApi(format));
  return 0;
}

export async function versionCommand(args: string[], io: CliIo): Promise<number> {
  const { positionals: rest } = parseCommandArgs(args, {}, VERSION_USAGE);
  positionals(rest, [], VERSION_USAGE);
  io.stdout(versionText());
  return 0;
}

function requireConfigPath(path: string | undefined): string {
  if (!path) throw new AppError("config-invalid", "--config FILE is required");
  return path;
}

async function serve(configPath: string): Promise<number> {
  const config = loadConfig(configPath);
  const log = createLogger(config.log.level);
  const daemon = new Daemon(config, log);
  // Nothing may crash the daemon: a stray rejection is logged, not fatal.
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection"));
  try {
    await daemon.start();
  } catch (error) {
    // A half-started daemon (one listener open, another failed) must not linger: stop what started.
    log.fatal({ err: error }, "start failed");
    await daemon.stop().catch(() => undefined);
    throw error;
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, "shutting down");
      resolve();
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGHUP", () => {
      log.info({ signal: "SIGHUP" }, "reloading TLS certificates");
      daemon.reloadCredentials();
    });
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  await daemon.stop();
  return 0;
}
