import type { CommandResult, CommandRunner, RunOptions } from "../../appliance/system/runner.js";
import { ExecaRunner } from "../../appliance/system/runner.js";

/** Runs the appliance's commands inside a benchmark namespace, never against the host's own tables. */
export class NetnsRunner implements CommandRunner {
  private readonly inner = new ExecaRunner();
  constructor(private readonly namespace: string) {}
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    return this.inner.run("ip", ["netns", "exec", this.namespace, command, ...args], options);
  }
}
