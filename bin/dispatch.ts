import { main } from "../appliance/cli/main.js";
import type { CompletionSpec } from "../appliance/cli/completion.js";
import { versionText } from "../appliance/cli/version-text.js";
import { processIo, type CliIo } from "../appliance/terminal/io.js";
import { reportFailure } from "../appliance/terminal/output.js";

/**
 * What bash completion offers after `egw lab`. Written out here because loading the lab has side effects (see
 * below); a unit test holds it to the lab's own usage and options.
 */
export const LAB_COMPLETION: CompletionSpec = {
  usage: ["up", "demo", "status", "fail", "restore", "down"].map((sub) => `  egw lab ${sub}`).join("\n"),
  options: { json: { type: "boolean" }, keep: { type: "boolean" }, empty: { type: "boolean" }, help: { type: "boolean", short: "h" } },
};

/**
 * egw's commands: `lab` goes to the lab, every other one to the appliance's CLI. The lab is test tooling beside
 * the appliance, so the entry point dispatches it and the appliance knows nothing of it.
 */
export async function egw(argv: string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "lab") return main(argv, io, { lab: LAB_COMPLETION });
  if (rest.includes("--version")) {
    io.stdout(versionText());
    return 0;
  }
  try {
    // Loaded only when used: the lab's namespace helpers install process-wide exit and signal handlers.
    const { labMain } = await import("../lab/cli.js");
    return await labMain(rest, io);
  } catch (error) {
    return reportFailure(io, error);
  }
}
