import type { CommandRunner } from "./runner.js";

/** systemd's notify protocol needs a datagram socket Node lacks; systemd-notify does it (NotifyAccess=all). */
export async function notifySystemd(runner: CommandRunner, state: "READY=1" | "STOPPING=1" | "WATCHDOG=1", env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!env["NOTIFY_SOCKET"]) return;
  await runner.run("systemd-notify", [state]).catch(() => undefined);
}

/**
 * How often to tell systemd's watchdog that the event loop is alive: a third of WatchdogSec= (systemd passes it in
 * microseconds as WATCHDOG_USEC, and WATCHDOG_PID when it is meant for this process), so that one slow ping does
 * not trip it. Undefined when the unit has no watchdog.
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const usec = Number(env["WATCHDOG_USEC"]);
  if (!env["NOTIFY_SOCKET"] || !Number.isFinite(usec) || usec <= 0) return undefined;
  const pid = env["WATCHDOG_PID"];
  if (pid !== undefined && pid !== "" && Number(pid) !== process.pid) return undefined;
  return Math.max(100, Math.floor(usec / 1000 / 3));
}

/**
 * Pings systemd's watchdog from the event loop. A hung loop sends no ping, and systemd kills and restarts the
 * daemon after WatchdogSec=; the data plane stays in force meanwhile. A ping still running is not doubled.
 */
export function startWatchdog(runner: CommandRunner, env: NodeJS.ProcessEnv = process.env): { stop(): void } {
  const interval = watchdogIntervalMs(env);
  if (interval === undefined) return { stop: () => undefined };
  let pinging = false;
  const timer = setInterval(() => {
    if (pinging) return;
    pinging = true;
    void notifySystemd(runner, "WATCHDOG=1", env).finally(() => { pinging = false; });
  }, interval);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
