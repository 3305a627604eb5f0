// Starts the lab supervisor in the background and follows it until the lab is ready.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { isSupervisor, LAB_DIR, readState, SUPERVISOR_LOG, type LabState } from "./lab-state.js";
import { labRemains, sweepSync } from "./lab-sweep.js";

const EGW_BIN = fileURLToPath(new URL("../bin/egw.js", import.meta.url));

export class LabError extends Error {
  constructor(message: string, readonly logTail?: string) {
    super(message);
    this.name = "LabError";
  }
}

/**
 * Starts `egw lab supervise` detached (it outlives this process), prints its progress lines through `say`,
 * and resolves with the lab's state once it is ready. Refuses when a lab is already up; removes what a
 * crashed lab left behind first. On failure the caller tears down (stopLab) and may show `logTail`.
 */
export async function startLab(options: { seed: boolean; say: (line: string) => void; timeoutMs?: number }): Promise<LabState> {
  const existing = readState();
  if (existing && isSupervisor(existing.supervisorPid)) {
    throw new LabError(`a lab is already up (since ${existing.startedAt}, supervisor pid ${existing.supervisorPid}): use it, or run \`egw lab down\` first`);
  }
  const remains = labRemains();
  if (remains.state || remains.namespaces.length > 0) {
    options.say(`removing what an earlier lab left behind${remains.namespaces.length > 0 ? ` (namespaces ${remains.namespaces.join(", ")})` : ""}`);
    sweepSync();
  }
  mkdirSync(LAB_DIR, { recursive: true, mode: 0o700 });
  const logFd = openSync(SUPERVISOR_LOG, "a", 0o600);
  const child = spawn(process.execPath, [EGW_BIN, "lab", "supervise", ...(options.seed ? [] : ["--empty"])], {
    detached: true, stdio: ["ignore", logFd, logFd],
  });
  closeSync(logFd);
  child.unref();
  let exited = false;
  child.once("exit", () => (exited = true));

  let printed = 0;
  const follow = () => {
    let text = "";
    try {
      text = readFileSync(SUPERVISOR_LOG, "utf8");
    } catch {
      return;
    }
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    for (const line of complete.slice(printed).split("\n")) if (line) options.say(line);
    printed = complete.length;
  };
  const tail = () => {
    try {
      return readFileSync(SUPERVISOR_LOG, "utf8").slice(-4000);
    } catch {
      return "";
    }
  };
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    await sleep(150);
    follow();
    const state = readState();
    if (state?.phase === "ready" && state.supervisorPid === child.pid) return state;
    if (state?.phase === "failed") throw new LabError(`the lab failed to start: ${state.error ?? "unknown error"}`, tail());
    if (exited) throw new LabError("the lab supervisor exited before the lab was ready", tail());
    if (Date.now() > deadline) throw new LabError(`the lab was not ready after ${Math.round((options.timeoutMs ?? 120_000) / 1000)} s`, tail());
  }
}
