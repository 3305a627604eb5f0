import type { Logger } from "pino";
import { HostFiles, type SystemFiles } from "./files.js";
import { ExecaLineStreams, type LineStreams } from "./line-stream.js";
import { ExecaRunner, type CommandRunner } from "./runner.js";
import { HostSpoolFiles, type SpoolFiles } from "./spool.js";
import { ProcSysctls, type Sysctls } from "./sysctls.js";

/**
 * Everything the daemon does to the machine, through five doorways: short commands, long-running monitors, the
 * files it writes, the kernel settings it sets and the translation log's spool. Nothing else in the appliance
 * starts a process, writes a system file or touches /proc; unit tests hand the daemon
 * test/helpers/fake-system.ts instead.
 */
export interface System {
  runner: CommandRunner;
  streams: LineStreams;
  files: SystemFiles;
  sysctls: Sysctls;
  /** ulogd's spool files, which the translation log reads, rotates and removes. */
  spool: SpoolFiles;
}

/** The real machine. `log` is the monitors' logger (their restarts and stderr are logged). */
export function hostSystem(log: Logger): System {
  const runner = new ExecaRunner();
  return { runner, streams: new ExecaLineStreams(log), files: new HostFiles(runner), sysctls: new ProcSysctls(), spool: new HostSpoolFiles() };
}

/** Commands and files of the real machine, for a CLI command or a test that needs no monitors. */
export function hostCommandsAndFiles(): { runner: CommandRunner; files: SystemFiles } {
  const runner = new ExecaRunner();
  return { runner, files: new HostFiles(runner) };
}
