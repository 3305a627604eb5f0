import type { CommandRunner } from "../system/runner.js";
import { parseAddress } from "../net/cidr.js";
import { runIpBatch } from "./ip-batch.js";

export interface Neighbour {
  address: string;
  /** Lower-case MAC; undefined while unresolved (INCOMPLETE, FAILED). */
  mac: string | undefined;
  state: string[];
  managed: boolean;
}

/** States in which an entry's MAC is not (or no longer) known. */
const UNRESOLVED = ["INCOMPLETE", "FAILED", "NONE", "NOARP"];

/**
 * The neighbour entries of the route next hops on the inside link: the MACs source binding is built from.
 * Each next hop gets a kernel-managed entry (`managed`), which the kernel keeps resolved even when no
 * traffic flows — a backup gateway then has every MAC ready the moment it takes over. Only entries this
 * process created or converted are ever deleted, and an operator's PERMANENT entry (a pinned MAC) is used
 * as it is and never changed.
 */
export class NeighbourManager {
  /** Next hops whose managed entry this process added; the only ones it removes. In memory on purpose. */
  private readonly added = new Set<string>();

  constructor(private readonly runner: CommandRunner, readonly insideInterface: string) {}

  async list(): Promise<Map<string, Neighbour>> {
    const result = await this.runner.run("ip", ["-j", "neigh", "show", "dev", this.insideInterface]);
    const rows = JSON.parse(result.stdout || "[]") as { dst: string; lladdr?: string; state?: string[]; managed?: unknown }[];
    const neighbours = new Map<string, Neighbour>();
    for (const row of rows) {
      const address = parseAddress(row.dst, "dst").address;
      const state = row.state ?? [];
      const resolved = row.lladdr !== undefined && !state.some((s) => UNRESOLVED.includes(s));
      neighbours.set(address, { address, mac: resolved ? row.lladdr?.toLowerCase() : undefined, state, managed: "managed" in row });
    }
    return neighbours;
  }

  /**
   * Makes every next hop a managed entry and removes the entries this process added for next hops that
   * are gone, in one `ip -batch`. `reresolve` names next hops whose MAC is in doubt (the host probably
   * moved to another NIC): their entry is deleted and created again, so the kernel asks the link at once
   * instead of trusting the cached MAC until its next reachability probe (tens of seconds). Returns each
   * next hop's MAC (undefined while unresolved) and every entry on the link. Created entries are listed
   * once more after the batch: the kernel resolves them at once, which on a LAN is usually done by then;
   * whatever is not is retried by the caller.
   */
  async converge(nextHops: readonly string[], reresolve: readonly string[] = []): Promise<{ macs: Map<string, string | undefined>; link: Map<string, Neighbour> }> {
    const present = await this.list();
    const wanted = new Set(nextHops);
    const lines: string[][] = [];
    const adding: string[] = [];
    for (const address of wanted) {
      const entry = present.get(address);
      const pinned = entry?.state.includes("PERMANENT") ?? false;
      if (entry && !pinned && reresolve.includes(address)) lines.push(["neigh", "del", address, "dev", this.insideInterface]);
      else if (entry && (entry.managed || pinned)) continue;
      lines.push(["neigh", "replace", address, "dev", this.insideInterface, "managed"]);
      adding.push(address);
    }
    const removing = [...this.added].filter((address) => !wanted.has(address));
    // A delete of a missing entry aborts the batch (ip exits at once): delete only what is listed.
    for (const address of removing) if (present.has(address)) lines.push(["neigh", "del", address, "dev", this.insideInterface]);
    await runIpBatch(this.runner, lines);
    for (const address of adding) this.added.add(address);
    for (const address of removing) this.added.delete(address);
    const link = adding.length > 0 ? await this.list() : present;
    return { macs: new Map([...wanted].map((address) => [address, link.get(address)?.mac])), link };
  }
}

export interface NeighbourEvent {
  address: string;
  /** Undefined for a deletion or an entry without a usable MAC. */
  mac: string | undefined;
  deleted: boolean;
}

/**
 * One line of `ip monitor neigh dev X`, e.g. "172.31.0.11 lladdr 02:00:00:00:11:12 managed STALE" or
 * "Deleted 172.31.0.11 lladdr … STALE". Undefined when the line is not a neighbour event we can read.
 */
export function parseNeighbourEvent(line: string): NeighbourEvent | undefined {
  const words = line.trim().split(/\s+/);
  const deleted = words[0] === "Deleted";
  if (deleted) words.shift();
  const [dst] = words;
  if (dst === undefined) return undefined;
  let address: string;
  try {
    address = parseAddress(dst, "dst").address;
  } catch {
    return undefined;
  }
  const at = words.indexOf("lladdr");
  const state = words.at(-1) ?? "";
  const mac = !deleted && at >= 0 && !UNRESOLVED.includes(state) ? words[at + 1]?.toLowerCase() : undefined;
  return { address, mac, deleted };
}
