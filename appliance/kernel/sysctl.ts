import { errorMessage } from "../errors.js";
import type { Sysctls } from "../system/sysctls.js";

/** The kernel settings a gateway needs, in its own network namespace. */
export const REQUIRED_SYSCTLS: Record<string, string> = {
  "net/ipv4/ip_forward": "1",
  "net/ipv6/conf/all/forwarding": "1",
};

/**
 * With connection state synced between gateways, a new master sees packets whose sequence numbers moved
 * past the last synced window; strict window tracking would mark them invalid and break the connection.
 */
export const HA_SYSCTLS: Record<string, string> = {
  "net/netfilter/nf_conntrack_tcp_be_liberal": "1",
};

/** Sets what it can and returns a warning for each setting it could not make right. */
export function ensureSysctls(sysctls: Sysctls, manage: boolean, ha = false): string[] {
  const warnings: string[] = [];
  for (const [key, wanted] of Object.entries({ ...REQUIRED_SYSCTLS, ...(ha ? HA_SYSCTLS : {}) })) {
    try {
      if (sysctls.readSysctl(key) === wanted) continue;
      if (!manage) {
        warnings.push(`${key.replaceAll("/", ".")} is not ${wanted} and dataplane.manageSysctls is off`);
        continue;
      }
      sysctls.writeSysctl(key, wanted);
    } catch (error) {
      warnings.push(`cannot set ${key.replaceAll("/", ".")}=${wanted}: ${errorMessage(error)}`);
    }
  }
  return warnings;
}
