import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

/** Waits for a condition, never for a fixed time; the deadline is on the monotonic clock. */
export async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
