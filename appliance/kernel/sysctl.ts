import { readFile, writeFile } from "node:fs/promises";
import { errorMessage } from "../errors.js";

/** The kernel settings a gateway needs; read through /proc/sys of the daemon's own network namespace. */
export const REQUIRED_SYSCTLS: Record<string, string> = {
  "net/ipv4/ip_forward": "1",
  "net/ipv6/conf/all/forwarding": "1",
};

export interface SysctlAccess {
  read(key: string): Promise<string>;
  write(key: string, value: string): Promise<void>;
}

export const procSysctl: SysctlAccess = {
  read: async (key) => (await readFile(`/proc/sys/${key}`, "utf8")).trim(),
  write: (key, value) => writeFile(`/proc/sys/${key}`, value),
};

/**
 * With connection state synced between gateways, a new master sees packets whose sequence numbers moved
 * past the last synced window; strict window tracking would mark them invalid and break the connection.
 */
export const HA_SYSCTLS: Record<string, string> = {
  "net/netfilter/nf_conntrack_tcp_be_liberal": "1",
};

/** Sets what it can and returns a warning for each setting it could not make right. */
export async function ensureSysctls(access: SysctlAccess, manage: boolean, ha = false): Promise<string[]> {
  const warnings: string[] = [];
  for (const [key, wanted] of Object.entries({ ...REQUIRED_SYSCTLS, ...(ha ? HA_SYSCTLS : {}) })) {
    try {
      if ((await access.read(key)) === wanted) continue;
      if (!manage) {
        warnings.push(`${key.replaceAll("/", ".")} is not ${wanted} and dataplane.manageSysctls is off`);
        continue;
      }
      await access.write(key, wanted);
    } catch (error) {
      warnings.push(`cannot set ${key.replaceAll("/", ".")}=${wanted}: ${errorMessage(error)}`);
    }
  }
  return warnings;
}
