import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { ExecaLineStreams } from "../../appliance/system/line-stream.js";

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("ExecaLineStreams: a long-running command emitting lines", () => {
  it("delivers whole lines and restarts the command when it exits (onStart each time)", async () => {
    const lines: string[] = [];
    let starts = 0;
    // Prints two lines in separate writes (one split mid-line), then exits: a monitor that died.
    const script = "process.stdout.write('first li'); setTimeout(() => { process.stdout.write('ne\\nsecond line\\n'); process.exit(0); }, 20);";
    const stream = new ExecaLineStreams(pino({ enabled: false })).open(
      { name: "test", command: process.execPath, args: ["-e", script] },
      { onLine: (line) => lines.push(line), onStart: () => void starts++ },
    );
    try {
      await until(() => lines.length >= 4 && starts >= 2, "two runs");
      assert.deepEqual(lines.slice(0, 4), ["first line", "second line", "first line", "second line"]);
    } finally {
      await stream.stop();
    }
  });

  it("stop() kills a command that would run forever, and a throwing handler neither kills the stream nor the process", async () => {
    const lines: string[] = [];
    let pid: number | undefined;
    const script = "console.log(process.pid); setInterval(() => console.log('tick'), 10);";
    const stream = new ExecaLineStreams(pino({ enabled: false })).open(
      { name: "test", command: process.execPath, args: ["-e", script] },
      {
        onLine: (line) => {
          lines.push(line);
          if (pid === undefined) pid = Number(line);
          else throw new Error("handler bug");
        },
      },
    );
    await until(() => lines.length >= 3, "ticks keep coming although the handler throws");
    assert.ok(pid !== undefined && alive(pid));
    await stream.stop();
    assert.equal(alive(pid), false, "the child is gone once stop() resolves");
  });
});
