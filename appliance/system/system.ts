import type { Logger } from "pino";
import { HostFiles, type SystemFiles } from "./files.js";
import { ExecaLineStreams, type LineStreams } from "./line-stream.js";
import { ExecaRunner, type CommandRunner } from "./runner.js";
import { openNetfilterSocket, type NetfilterTransactions } from "./netlink.js";
import { HostSpoolFiles, type SpoolFiles } from "./spool.js";
import { ProcSysctls, type Sysctls } from "./sysctls.js";

/**
 * Everything the daemon does to the machine, through six doorways: short commands, long-running monitors, the
 * files it writes, the kernel settings it sets, the translation log's spool and nf_tables transactions over
 * netlink. Nothing else in the appliance starts a process, writes a system file or touches /proc; unit tests hand the daemon
 * test/helpers/fake-system.ts instead.
 */
export interface System {
  runner: CommandRunner;
  streams: LineStreams;
  files: SystemFiles;
  sysctls: Sysctls;
  /** ulogd's spool files, which the translation log reads, rotates and removes. */
  spool: SpoolFiles;
  /**
   * nf_tables transactions over netlink in the process's own network namespace (where its nft commands act too);
   * absent on a fake machine, whose data plane is nft alone.
   */
  netfilter?: () => NetfilterTransactions;
}

/** The real machine. `log` is the monitors' logger (their restarts and stderr are logged). */
export function hostSystem(log: Logger): System {
  const runner = new ExecaRunner();
  return { runner, streams: new ExecaLineStreams(log), files: new HostFiles(runner), sysctls: new ProcSysctls(), spool: new HostSpoolFiles(), netfilter: () => openNetfilterSocket() };
}

/** Commands and files of the real machine, for a CLI command or a test that needs no monitors. */
export function hostCommandsAndFiles(): { runner: CommandRunner; files: SystemFiles } {
  const runner = new ExecaRunner();
  return { runner, files: new HostFiles(runner) };
}
