import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { resolve } from "node:path";

/** A process that has one of the files open. */
export interface Holder {
  pid: number;
  /** Its command line, for the operator ("node /usr/lib/egw/dist/bin/egw.js serve …"). */
  command: string;
  path: string;
}

/**
 * Which processes hold any of `paths` open, read from /proc/PID/fd (Linux). Read-only. It sees every process only
 * as root (others' descriptors are not readable by an ordinary user): callers that must be sure run as root.
 * A path that does not exist is held by nobody.
 */
export function processesHolding(paths: readonly string[], proc = "/proc"): Holder[] {
  const wanted = new Set(paths.flatMap((path) => {
    const absolute = resolve(path);
    try {
      return [absolute, realpathSync(absolute)];
    } catch {
      return [absolute];
    }
  }));
  const holders: Holder[] = [];
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    let descriptors: string[];
    try {
      descriptors = readdirSync(`${proc}/${entry}/fd`);
    } catch {
      // Gone since the listing, or not ours to read.
      continue;
    }
    for (const fd of descriptors) {
      let target: string;
      try {
        target = readlinkSync(`${proc}/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!wanted.has(target)) continue;
      holders.push({ pid: Number(entry), command: commandLine(proc, entry), path: target });
      break;
    }
  }
  return holders;
}

function commandLine(proc: string, pid: string): string {
  try {
    return readFileSync(`${proc}/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "?";
  }
}
