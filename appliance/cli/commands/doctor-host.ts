import { readFileSync, statSync } from "node:fs";
import { ExecaRunner, type CommandRunner } from "../../system/runner.js";
import { ProcSysctls, type Sysctls } from "../../system/sysctls.js";

/** What the checks read from the host; tests substitute a fake. */
export interface DoctorHost {
  /** File contents, or undefined if it cannot be read. */
  readText(path: string): string | undefined;
  stat(path: string): { mode: number; uid: number } | undefined;
  /** A kernel setting by its sysctl path ("net/ipv4/ip_forward"), without its newline; undefined if it cannot be read. */
  sysctl(key: string): string | undefined;
  /** Runs a command; undefined if it is not installed. */
  run(command: string, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string } | undefined>;
}

/** This machine: files are read directly, settings and commands go through the system module. */
export function systemHost(runner: CommandRunner, sysctls: Sysctls): DoctorHost {
  return {
    readText,
    stat,
    sysctl: (key) => {
      try {
        return sysctls.readSysctl(key);
      } catch {
        return undefined;
      }
    },
    run: async (command, args) => {
      const result = await runner.run(command, args, { okExitCodes: "any", timeoutMs: 10_000 });
      return result.notInstalled ? undefined : result;
    },
  };
}

export const realHost = systemHost(new ExecaRunner(), new ProcSysctls());

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function stat(path: string): { mode: number; uid: number } | undefined {
  try {
    const s = statSync(path);
    return { mode: s.mode, uid: s.uid };
  } catch {
    return undefined;
  }
}
