import { execa } from "execa";
import { AppError } from "../errors.js";
import { commandSearchPath } from "./search-path.js";

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** Exit codes that are an answer rather than a failure (e.g. "no such object"). */
  okExitCodes?: number[];
  timeoutMs?: number;
  /** Written to the command's standard input (e.g. the lines of `ip -batch -`). */
  input?: string;
}

/**
 * The single doorway to the operating system: every nft, ip and sysctl change goes through a
 * CommandRunner. Unit tests substitute a fake; integration tests always run the real one.
 * Arguments are always an array: nothing here ever builds a shell string.
 */
export interface CommandRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

export class ExecaRunner implements CommandRunner {
  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const result = await execa(command, [...args], {
      reject: false,
      timeout: options.timeoutMs ?? 60_000,
      ...(options.input === undefined ? {} : { input: options.input }),
      stripFinalNewline: false,
      // Error text is matched in places (nft "No such file"): keep it untranslated. sbin may be off a service's PATH.
      env: { LC_ALL: "C", PATH: commandSearchPath() },
    });
    const exitCode = result.exitCode ?? -1;
    if (exitCode !== 0 && !(options.okExitCodes ?? []).includes(exitCode)) {
      throw new CommandError(command, args, exitCode, String(result.stderr || result.message));
    }
    return { stdout: String(result.stdout), stderr: String(result.stderr), exitCode };
  }
}

export class CommandError extends AppError {
  constructor(readonly command: string, readonly args: readonly string[], readonly exitCode: number, readonly stderr: string) {
    super("command-failed", `${command} ${args.join(" ")} exited with ${exitCode}: ${stderr.trim()}`);
  }
}
