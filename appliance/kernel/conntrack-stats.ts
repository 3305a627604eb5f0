import { AppError } from "../errors.js";
import type { CommandRunner } from "../system/runner.js";
import type { Sysctls } from "../system/sysctls.js";

/** The kernel's conntrack statistics of this network namespace, summed over CPUs. */
export interface ConntrackStats {
  /**
   * A new connection could not be inserted: the tuple the NAT chose clashed with a live one. With source NAT this
   * is what port exhaustion looks like (the packet is dropped, the client sees a timeout or EPERM).
   */
  insertFailed: number;
  /** Packets dropped by conntrack (a failed insert is one of them). */
  drop: number;
  /** Entries evicted early because the table was full. */
  earlyDrop: number;
  /** Entries in the table now. */
  entries: number;
  /** nf_conntrack_max; null where it cannot be read. */
  max: number | null;
  /** Every counter `conntrack -S` printed, summed over CPUs (the names differ between kernels). */
  counters: Record<string, number>;
}

const COUNT_SYSCTL = "net/netfilter/nf_conntrack_count";
const MAX_SYSCTL = "net/netfilter/nf_conntrack_max";

/**
 * Parses `conntrack -S`: one line per CPU, `cpu=N` then `name=value` pairs (`cpu=0 \tfound=3 invalid=0 …
 * insert_failed=1 drop=1 early_drop=0 …`), summed over the lines. Older kernels also print `entries=` on each
 * line, the table's size rather than a per-CPU counter: its sum means nothing, so the size is read elsewhere.
 */
export function parseConntrackStats(text: string): Record<string, number> {
  const sums: Record<string, number> = {};
  let lines = 0;
  for (const line of text.split("\n")) {
    const pairs = [...line.matchAll(/([a-z_]+)=(\d+)/g)];
    if (pairs.length === 0) continue;
    lines += 1;
    for (const [, name, value] of pairs) {
      if (name === "cpu") continue;
      sums[name as string] = (sums[name as string] ?? 0) + Number(value);
    }
  }
  if (lines === 0) throw new AppError("command-failed", `conntrack -S printed no statistics: ${JSON.stringify(text.slice(0, 200))}`);
  return sums;
}

/**
 * Reads the statistics through the doorway: the counters from `conntrack -S` (a netlink dump, one process),
 * the table's size and limit from /proc/sys (no process); `conntrack -C` only where the count's sysctl is missing.
 */
export async function readConntrackStats(runner: CommandRunner, sysctls: Sysctls): Promise<ConntrackStats> {
  const counters = parseConntrackStats((await runner.run("conntrack", ["-S"], { timeoutMs: 10_000 })).stdout);
  let entries = readNumber(sysctls, COUNT_SYSCTL);
  if (entries === null) entries = parseCount((await runner.run("conntrack", ["-C"], { timeoutMs: 10_000 })).stdout);
  return {
    insertFailed: counters["insert_failed"] ?? 0,
    drop: counters["drop"] ?? 0,
    earlyDrop: counters["early_drop"] ?? 0,
    entries,
    max: readNumber(sysctls, MAX_SYSCTL),
    counters,
  };
}

/** `conntrack -C` prints the number of entries alone on a line. */
export function parseCount(text: string): number {
  const match = /^\s*(\d+)\s*$/.exec(text);
  if (!match) throw new AppError("command-failed", `conntrack -C printed ${JSON.stringify(text.slice(0, 200))}, not a count`);
  return Number(match[1]);
}

function readNumber(sysctls: Sysctls, key: string): number | null {
  let text: string;
  try {
    text = sysctls.readSysctl(key);
  } catch {
    // Not there: conntrack is a module that is not loaded yet (nothing is tracked), or /proc is not ours.
    return null;
  }
  return /^\d+$/.test(text) ? Number(text) : null;
}
