import { AppError } from "../errors.js";
import type { CommandRunner } from "../system/runner.js";

export interface BatchFailure {
  /** The batch line (ip arguments, without "ip"). */
  line: string;
  error: string;
}

/**
 * Sends many `ip` changes as one `ip -force -batch -` (one process instead of one per change). With
 * -force, ip carries on after a failed line and reports each as "<error>\nCommand failed -:<line>";
 * failures the caller accepts (`tolerate`) are dropped, any other fails the whole call with all of them.
 * Each line is an argument array joined by spaces: every value is an address, prefix, number or interface
 * name, none of which contain spaces.
 */
export async function runIpBatch(
  runner: CommandRunner,
  lines: readonly (readonly string[])[],
  tolerate: (failure: BatchFailure) => boolean = () => false,
): Promise<void> {
  if (lines.length === 0) return;
  const text = lines.map((args) => args.join(" "));
  const result = await runner.run("ip", ["-force", "-batch", "-"], { input: `${text.join("\n")}\n`, okExitCodes: [1] });
  if (result.exitCode === 0) return;
  const failures = parseBatchFailures(result.stderr, text).filter((failure) => !tolerate(failure));
  if (failures.length > 0 || !/Command failed/.test(result.stderr)) {
    throw new AppError("command-failed", `ip -batch: ${failures.length > 0 ? failures.map((f) => `"${f.line}": ${f.error}`).join("; ") : result.stderr.trim()}`,
      { extra: { failures } });
  }
}

/** Pairs each "Command failed -:N" with the error lines printed before it. */
export function parseBatchFailures(stderr: string, lines: readonly string[]): BatchFailure[] {
  const failures: BatchFailure[] = [];
  let pending: string[] = [];
  for (const raw of stderr.split("\n")) {
    const row = raw.trim();
    if (!row) continue;
    const marker = /^Command failed -:(\d+)$/.exec(row);
    if (!marker) {
      pending.push(row);
      continue;
    }
    failures.push({ line: lines[Number(marker[1]) - 1] ?? `line ${marker[1]}`, error: pending.join(" ") });
    pending = [];
  }
  return failures;
}
