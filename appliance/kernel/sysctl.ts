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
 * No reverse-path filtering of what arrives on the outside interface (the kernel uses the larger of conf.all and
 * conf.IFACE, so both). For a forwarded packet the kernel's reverse-path check looks the source up as if it came in
 * on the interface the packet leaves by: a reply to a pod leaves by the inside interface carrying no mark, so the
 * fail-closed rule (`iif INSIDE fwmark 0/MARK blackhole`) answers that lookup, and loose (2) or strict (1) filtering
 * drops every reply to every pod. Debian's systemd sets 2 on every interface by default. Other interfaces, the inside
 * one included, keep their own setting.
 */
export function reversePathSysctls(outsideInterface: string): Record<string, string> {
  return { "net/ipv4/conf/all/rp_filter": "0", [`net/ipv4/conf/${outsideInterface}/rp_filter`]: "0" };
}

/** Sets what it can and returns a warning for each setting it could not make right. */
export function ensureSysctls(sysctls: Sysctls, manage: boolean, ha = false, outsideInterface?: string): string[] {
  const warnings: string[] = [];
  const wantedSettings = { ...REQUIRED_SYSCTLS, ...(ha ? HA_SYSCTLS : {}), ...(outsideInterface === undefined ? {} : reversePathSysctls(outsideInterface)) };
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
