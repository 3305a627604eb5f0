import type { Sysctls } from "../../appliance/system/sysctls.js";

const errno = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}`), { code });

/**
 * The kernel settings of a fresh network namespace, as far as the daemon touches them: forwarding off, strict TCP
 * window tracking. A setting not listed does not exist (a module not loaded, an interface that is not there).
 */
export class FakeSysctls implements Sysctls {
  readonly values = new Map<string, string>([
    ["net/ipv4/ip_forward", "0"],
    ["net/ipv6/conf/all/forwarding", "0"],
    ["net/netfilter/nf_conntrack_tcp_be_liberal", "0"],
  ]);
  /** /proc/sys read-only, as in a container that shares the host's network. */
  readOnly = false;

  readSysctl(key: string): string {
    const value = this.values.get(key);
    if (value === undefined) throw errno("ENOENT", `no such file or directory, open '/proc/sys/${key}'`);
    return value;
  }

  writeSysctl(key: string, value: string): void {
    if (!this.values.has(key)) throw errno("ENOENT", `no such file or directory, open '/proc/sys/${key}'`);
    if (this.readOnly) throw errno("EROFS", `read-only file system, open '/proc/sys/${key}'`);
    this.values.set(key, value.trim());
  }
}
