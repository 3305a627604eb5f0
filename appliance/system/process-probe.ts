import { readFileSync } from "node:fs";

/**
 * Answers whether the process named by a pid file is running. Read-only (signal 0 only asks the kernel
 * whether the process exists), and behind an interface so unit tests can fake process death.
 */
export interface ProcessProbe {
  /** The pid in the file if that process runs, otherwise undefined (no file, no pid, or no such process). */
  runningPid(pidFile: string): number | undefined;
}

export class PidFileProbe implements ProcessProbe {
  runningPid(pidFile: string): number | undefined {
    let pid: number;
    try {
      pid = Number.parseInt(readFileSync(pidFile, "utf8").trim(), 10);
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      process.kill(pid, 0);
      return pid;
    } catch (error) {
      // EPERM: it exists but is not ours to signal, which still means it runs.
      return (error as NodeJS.ErrnoException).code === "EPERM" ? pid : undefined;
    }
  }
}
