import { main } from "../appliance/cli/main.js";
import { processIo, type CliIo } from "../appliance/terminal/io.js";
import { reportFailure } from "../appliance/terminal/output.js";

/**
 * egw's commands: `lab` goes to the lab, every other one to the appliance's CLI. The lab is test tooling beside
 * the appliance, so the entry point dispatches it and the appliance knows nothing of it.
 */
export async function egw(argv: string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "lab") return main(argv, io);
  try {
    // Loaded only when used: the lab's namespace helpers install process-wide exit and signal handlers.
    const { labMain } = await import("../lab/cli.js");
    return await labMain(rest, io);
  } catch (error) {
    return reportFailure(io, error);
  }
}
