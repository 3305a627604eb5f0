import { parseArgs, type ParseArgsConfig } from "node:util";
import { errorMessage } from "../errors.js";

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/**
 * Command-line plumbing shared by every program of this repository (the appliance's CLI, the lab): where a
 * command writes, how its arguments are parsed, and what a usage mistake is. It knows nothing of either.
 */

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

/** `egw … | head`: a closed pipe ends the process quietly instead of crashing it. */
export function endQuietlyOnClosedPipe(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit();
    throw error;
  });
}
