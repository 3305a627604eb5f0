import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommandError, ExecaRunner, NOT_INSTALLED_EXIT_CODE } from "../../../appliance/system/runner.js";

describe("ExecaRunner: the one runner of short commands", () => {
  const runner = new ExecaRunner();
  const missing = "egw-no-such-command";

  it("a command that is not installed is a command error by default (exit 127, as a shell says)", async () => {
    await assert.rejects(runner.run(missing, ["--version"]), (error: unknown) => {
      assert.ok(error instanceof CommandError);
      assert.equal(error.exitCode, NOT_INSTALLED_EXIT_CODE);
      assert.match(error.message, /egw-no-such-command: not installed/);
      return true;
    });
  });

  it("with every exit code accepted, not installed is a result the caller can tell apart", async () => {
    const result = await runner.run(missing, ["--version"], { okExitCodes: "any" });
    assert.equal(result.notInstalled, true);
    assert.equal(result.exitCode, NOT_INSTALLED_EXIT_CODE);
    const failed = await runner.run("sh", ["-c", "echo out; echo err >&2; exit 3"], { okExitCodes: "any" });
    assert.deepEqual(failed, { stdout: "out\n", stderr: "err\n", exitCode: 3 }, "a tool that ran and failed is installed");
  });

  it("throws on an exit code that is no answer, and accepts the ones listed", async () => {
    await assert.rejects(runner.run("sh", ["-c", "echo no >&2; exit 2"]), /exited with 2: no/);
    assert.equal((await runner.run("sh", ["-c", "exit 2"], { okExitCodes: [2] })).exitCode, 2);
  });

  it("gives a command its input, or none: a command that reads standard input does not wait for it", async () => {
    assert.equal((await runner.run("cat", [], { input: "lines\n" })).stdout, "lines\n");
    assert.equal((await runner.run("cat", [], { timeoutMs: 5_000 })).stdout, "");
  });

  it("runs every command in the C locale, with the system directories on its search path", async () => {
    const { stdout } = await runner.run("sh", ["-c", 'echo "$LC_ALL $PATH"']);
    const [locale, path] = stdout.trim().split(" ");
    assert.equal(locale, "C");
    assert.ok(path?.split(":").includes("/usr/sbin"), path);
  });
});
