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

/**
 * The outside interface's reverse-path check uses the packet mark (`src_valid_mark`): our table marks what arrives
 * there (nft/guards.ts, replyMarkRule), so the check of a reply to a pod passes the fail-closed rule instead of being
 * answered by it. rp_filter itself stays as the operator set it (loose, strict or off) on every interface.
 */
export function reversePathSysctls(outsideInterface: string): Record<string, string> {
  return { [`net/ipv4/conf/${outsideInterface}/src_valid_mark`]: "1" };
}

/** Sets what it can and returns a warning for each setting it could not make right. */
export function ensureSysctls(sysctls: Sysctls, manage: boolean, ha = false, outsideInterface?: string): string[] {
  return ensureSettings(sysctls, manage, { ...REQUIRED_SYSCTLS, ...(ha ? HA_SYSCTLS : {}), ...(outsideInterface === undefined ? {} : reversePathSysctls(outsideInterface)) });
}

/** Sets each of `wantedSettings` that differs; returns a warning for each one it could not make right. */
export function ensureSettings(sysctls: Sysctls, manage: boolean, wantedSettings: Record<string, string>): string[] {
  const warnings: string[] = [];
  for (const [key, wanted] of Object.entries(wantedSettings)) {
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
