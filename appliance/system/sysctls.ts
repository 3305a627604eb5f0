import { readFileSync, writeFileSync } from "node:fs";

/**
 * Kernel settings of the process's own network namespace, named by their path below /proc/sys
 * ("net/ipv4/ip_forward"): with slashes a name stays unambiguous where an interface name holds a dot (eth0.100).
 */
export interface Sysctls {
  /** The value without its newline; throws where it cannot be read (no such setting: a module not loaded, an interface gone). */
  readSysctl(key: string): string;
  writeSysctl(key: string, value: string): void;
}

export class ProcSysctls implements Sysctls {
  readSysctl(key: string): string {
    return readFileSync(procPath(key), "utf8").trim();
  }

  writeSysctl(key: string, value: string): void {
    writeFileSync(procPath(key), value);
  }
}

/** A name with an empty, "." or ".." part would lead out of /proc/sys (interface names come from the config). */
function procPath(key: string): string {
  if (key.split("/").some((part) => part === "" || part === "." || part === "..")) throw new Error(`not a sysctl name: ${JSON.stringify(key)}`);
  return `/proc/sys/${key}`;
}
