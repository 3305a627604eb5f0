import { execa } from "execa";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../errors.js";
import { commandEnvironment } from "./search-path.js";

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** Nothing ran: the command is not on the search path. Its exit code is then 127, as a shell reports it. */
  notInstalled?: boolean;
}

export interface RunOptions {
  /**
   * Exit codes that are an answer rather than a failure (e.g. "no such object"); "any" for a caller that judges
   * the result itself (egw doctor), which then also gets a command that is not installed as a result.
   */
  okExitCodes?: readonly number[] | "any";
  timeoutMs?: number;
  /** Written to the command's standard input (e.g. the lines of `ip -batch -`). */
  input?: string;
  /**
   * Handed to the command as a private temporary file whose path is appended to the arguments (mode 0600,
   * removed afterwards): for a command that cannot read a pipe, like nft 1.0 (`nft -j -f FILE`).
   */
  inputFile?: string;
}

/** The exit code of a command that could not be found, as shells report it. */
export const NOT_INSTALLED_EXIT_CODE = 127;

/**
 * The single doorway for short commands: every nft, ip, keepalived and mkfifo the daemon or the CLI runs goes
 * through a CommandRunner. Unit tests substitute a fake; integration tests always run the real one.
 * Arguments are always an array: nothing here ever builds a shell string.
 */
export interface CommandRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

export class ExecaRunner implements CommandRunner {
  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    if (options.inputFile !== undefined) {
      const { inputFile, ...rest } = options;
      return withPrivateFile(inputFile, (path) => this.run(command, [...args, path], rest));
    }
    const result = await execa(command, [...args], {
      reject: false,
      timeout: options.timeoutMs ?? 60_000,
      // Without input, none: a command that waited for input would otherwise hang until the timeout.
      ...(options.input === undefined ? { stdin: "ignore" as const } : { input: options.input }),
      stripFinalNewline: false,
      env: commandEnvironment(),
    });
    const notInstalled = (result as { code?: string }).code === "ENOENT";
    if (notInstalled) {
      const stderr = `${command}: not installed (not found in ${commandEnvironment().PATH})`;
      if (!accepts(options, NOT_INSTALLED_EXIT_CODE)) throw new CommandError(command, args, NOT_INSTALLED_EXIT_CODE, stderr);
      return { stdout: "", stderr, exitCode: NOT_INSTALLED_EXIT_CODE, notInstalled };
    }
    const exitCode = result.exitCode ?? -1;
    if (!accepts(options, exitCode)) throw new CommandError(command, args, exitCode, String(result.stderr || result.message));
    return { stdout: String(result.stdout), stderr: String(result.stderr), exitCode };
  }
}

/** Runs `use` with a file holding `content` that only this process can read, and removes it whatever happens. */
async function withPrivateFile<T>(content: string, use: (path: string) => Promise<T>): Promise<T> {
  const directory = mkdtempSync(join(tmpdir(), "egw-input-"));
  const path = join(directory, "input");
  try {
    writeFileSync(path, content, { mode: 0o600 });
    return await use(path);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Whether an exit code is an answer the caller takes (0 always is); otherwise the runner throws. Fakes use it too. */
export function accepts(options: RunOptions, exitCode: number): boolean {
  const ok = options.okExitCodes ?? [];
  return exitCode === 0 || ok === "any" || ok.includes(exitCode);
}

export class CommandError extends AppError {
  constructor(readonly command: string, readonly args: readonly string[], readonly exitCode: number, readonly stderr: string) {
    super("command-failed", `${command} ${args.join(" ")} exited with ${exitCode}: ${stderr.trim()}`);
  }
}
