import { parseArgs } from "node:util";
import { AppError, errorMessage } from "../errors.js";
import { loadConfig } from "../config/load.js";
import { createLogger } from "../log.js";
import { Daemon } from "../daemon.js";
import { renderConfigReference } from "./config-reference.js";
import { renderOpenApi } from "./openapi.js";

const USAGE = `usage:
  egw serve --config FILE     run the daemon
  egw openapi [--format json|markdown]   print the API reference
  egw check-config --config FILE         validate a config file and exit
  egw config-reference                   print the config file reference (Markdown)`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({ args: rest, options: { config: { type: "string" }, format: { type: "string", default: "json" } }, allowPositionals: false });
  try {
    switch (command) {
      case "serve":
        return await serve(requireConfigPath(values.config));
      case "check-config":
        loadConfig(requireConfigPath(values.config));
        process.stdout.write("config is valid\n");
        return 0;
      case "openapi":
        process.stdout.write(renderOpenApi(values.format === "markdown" ? "markdown" : "json"));
        return 0;
      case "config-reference":
        process.stdout.write(renderConfigReference());
        return 0;
      default:
        process.stderr.write(`${USAGE}\n`);
        return command === undefined || command === "help" || command === "--help" ? 0 : 2;
    }
  } catch (error) {
    process.stderr.write(`egw: ${errorMessage(error)}\n`);
    return error instanceof AppError && error.code === "config-invalid" ? 78 : 1;
  }
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
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  await daemon.stop();
  return 0;
}
