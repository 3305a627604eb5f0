import { join } from "node:path";
import type { Config } from "../config/schema.js";

/**
 * Where the daemon writes keepalived's and conntrackd's configuration: in its run directory, which it owns, in
 * both modes (with systemd, the shipped unit drop-ins point keepalived and conntrackd there). The daemon and
 * `egw show` take the paths from here, so they can never disagree.
 */
export function haConfigPaths(ha: NonNullable<Config["ha"]>): { keepalived: string; conntrackd: string; notifyFifo: string; healthFile: string } {
  return {
    keepalived: ha.keepalivedConfigPath ?? join(ha.runDirectory, "keepalived.conf"),
    conntrackd: ha.conntrackdConfigPath ?? join(ha.runDirectory, "conntrackd.conf"),
    // keepalived reports its states into the FIFO and reads this gateway's health from the file.
    notifyFifo: join(ha.runDirectory, "keepalived.fifo"),
    healthFile: join(ha.runDirectory, "health"),
  };
}
