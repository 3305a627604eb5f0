// What the long-running children (monitors, supervised daemons) have in common: how their output is read and how they end.

/** A child process as far as stopping it goes: execa's subprocess is one. */
interface Stoppable extends PromiseLike<unknown> {
  kill(signal: NodeJS.Signals): boolean;
}

/** Asks the child to end (SIGTERM), insists after `graceMs` (SIGKILL), and resolves once it is gone. */
export async function stopChild(child: Stoppable, graceMs: number): Promise<void> {
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  try {
    await child;
  } catch {
    // An exit by signal is what was asked for.
  } finally {
    clearTimeout(timer);
  }
}

/** Calls `onLine` with each complete, non-blank line the stream carries, without its newline. */
export function forEachLine(stream: NodeJS.ReadableStream | null | undefined, onLine: (line: string) => void): void {
  let partial = "";
  stream?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (line.trim()) onLine(line);
  });
}
