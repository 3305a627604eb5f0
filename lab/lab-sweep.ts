// Removes a lab, whatever state it is in: its supervisor, every process inside its namespaces, the
// namespaces, and LAB_DIR. Synchronous so that it also runs from an 'exit' handler.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { isSupervisor, LAB_DIR, LAB_PREFIX, readState } from "./lab-state.js";

export interface SweepReport {
  supervisorPid: number | undefined;
  namespaces: string[];
  processesKilled: number;
  removedDirectory: boolean;
}

/** Network namespaces that belong to the lab (named LAB_PREFIX-…). */
export function labNamespaces(): string[] {
  const out = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  return (out.stdout ?? "")
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(`${LAB_PREFIX}-`));
}

function namespacePids(name: string): number[] {
  const out = spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" });
  return (out.stdout ?? "").split("\n").map((l) => Number.parseInt(l, 10)).filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== process.pid);
}

function kill(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Kills and deletes everything of the lab at once (SIGKILL): for crashes, interrupts and leftovers. */
export function sweepSync(): SweepReport {
  const state = readState();
  const supervisorPid = state && isSupervisor(state.supervisorPid) ? state.supervisorPid : undefined;
  if (supervisorPid !== undefined) kill(supervisorPid, "SIGKILL");
  let processesKilled = 0;
  const namespaces = labNamespaces();
  for (const name of namespaces) {
    for (const pid of namespacePids(name)) if (kill(pid, "SIGKILL")) processesKilled++;
  }
  for (const name of namespaces) spawnSync("ip", ["netns", "del", name], { stdio: "ignore" });
  const removedDirectory = existsSync(LAB_DIR);
  rmSync(LAB_DIR, { recursive: true, force: true });
  return { supervisorPid, namespaces, processesKilled, removedDirectory };
}

/** Stops the supervisor gracefully (it stops the daemons and deletes its namespaces), then sweeps what is left. */
export async function stopLab(graceMs = 15_000): Promise<SweepReport> {
  const state = readState();
  const pid = state?.supervisorPid;
  if (pid !== undefined && isSupervisor(pid)) {
    kill(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (isSupervisor(pid) && Date.now() < deadline) await sleep(100);
  }
  const report = sweepSync();
  return { ...report, supervisorPid: pid !== undefined && state ? pid : report.supervisorPid };
}

/** Whether anything of a lab exists: a state file, or namespaces with the lab's prefix. */
export function labRemains(): { state: boolean; namespaces: string[] } {
  return { state: existsSync(LAB_DIR), namespaces: labNamespaces() };
}
