import type { CommandRunner } from "./runner.js";

/** systemd's notify protocol needs a datagram socket Node lacks; systemd-notify does it (NotifyAccess=all). */
export async function notifySystemd(runner: CommandRunner, state: "READY=1" | "STOPPING=1"): Promise<void> {
  if (!process.env["NOTIFY_SOCKET"]) return;
  await runner.run("systemd-notify", [state]).catch(() => undefined);
}
