import { AppError, errorMessage } from "../errors.js";
import type { CommandRunner } from "../system/runner.js";
import { counterName } from "./state.js";
import { GUARD_PREFIX } from "./guards.js";
import { parseEcho, unconfirmedChanges } from "./echo.js";
import { batch, type Command } from "./json.js";
import { parseTableListing } from "./readback.js";
import type { NftState } from "./state.js";

export interface CounterValue { packets: number; bytes: number }
export interface EgressCounter extends CounterValue { address: string; direction: "out" | "in" }

/** Traffic through each egress IP from one reading of the named counters (zero where a counter does not exist yet). */
export function egressCountersOf(values: ReadonlyMap<string, CounterValue>, addresses: readonly string[]): EgressCounter[] {
  return addresses.flatMap((address) => (["out", "in"] as const).map((direction) => ({
    address, direction, ...(values.get(counterName(direction, address)) ?? { packets: 0, bytes: 0 }),
  })));
}

/** The guards' drop counters from one reading of the named counters (`guard_spoofed` → "spoofed"). */
export function guardCountersOf(values: ReadonlyMap<string, CounterValue>): Map<string, CounterValue> {
  const guards = new Map<string, CounterValue>();
  for (const [name, value] of values) {
    if (name.startsWith(GUARD_PREFIX)) guards.set(name.slice(GUARD_PREFIX.length), value);
  }
  return guards;
}

export interface ChainListing {
  name: string;
  hook?: string;
  prio?: number;
  policy?: string;
}

/**
 * Talks to nft. Every change is one JSON batch, which nft applies as one kernel transaction, so a failure
 * anywhere leaves the previous ruleset entirely in force; `check` runs the same batch with `-c` (evaluated and
 * sent, then aborted), which tells whether a refused batch's content is at fault.
 */
export class NftClient {
  constructor(private readonly runner: CommandRunner, private readonly nftBinary = "nft") {}

  async check(commands: Command[]): Promise<void> {
    await this.send(["-c"], commands, "check");
  }

  async apply(commands: Command[]): Promise<void> {
    await this.send([], commands, "apply");
  }

  /**
   * Applies a batch with `--echo`: nft prints back what the kernel reported as done, which serves as the
   * readback of an incremental change without listing the whole table (listing costs seconds at 100k).
   * Returns the element and counter changes the echo did not confirm (see echo.ts); empty when all went in.
   */
  async applyWithEcho(commands: Command[]): Promise<{ unconfirmed: string[] }> {
    const stdout = await this.send(["-e"], commands, "apply");
    return { unconfirmed: unconfirmedChanges(commands, parseEcho(stdout)) };
  }

  /** The table as the kernel holds it, or undefined when it does not exist. */
  async readTable(table: string): Promise<NftState | undefined> {
    const result = await this.runner.run(this.nftBinary, ["-j", "list", "table", "inet", table], { okExitCodes: [1] });
    if (result.exitCode !== 0) {
      if (/No such file or directory|does not exist/i.test(result.stderr)) return undefined;
      throw new AppError("command-failed", `nft list table inet ${table} failed: ${result.stderr.trim()}`);
    }
    return parseTableListing(JSON.parse(result.stdout));
  }

  /** Packet and byte counts of our named counters. */
  async readCounters(table: string): Promise<Map<string, { packets: number; bytes: number }>> {
    const result = await this.runner.run(this.nftBinary, ["-j", "list", "counters", "table", "inet", table], { okExitCodes: [1] });
    const counters = new Map<string, { packets: number; bytes: number }>();
    if (result.exitCode !== 0) return counters;
    const items = (JSON.parse(result.stdout) as { nftables: Record<string, unknown>[] }).nftables;
    for (const item of items) {
      const counter = item["counter"] as { name: string; packets: number; bytes: number } | undefined;
      if (counter) counters.set(counter.name, { packets: counter.packets, bytes: counter.bytes });
    }
    return counters;
  }

  /** Traffic through each egress IP, both directions (zero for an address whose counters do not exist yet). */
  async readEgressCounters(table: string, addresses: readonly string[]): Promise<EgressCounter[]> {
    return egressCountersOf(await this.readCounters(table), addresses);
  }

  /** Drops counted per guard (`guard_spoofed` → "spoofed"); empty when the table does not exist. */
  async readGuardCounters(table: string): Promise<Map<string, CounterValue>> {
    return guardCountersOf(await this.readCounters(table));
  }

  /**
   * The base chains of our table (name, hook, priority, policy), or undefined when the table is gone. This
   * is the cheap check: `list chains` needs no set contents, while listing rules makes nft 1.0.6 fetch every
   * element too (0.7 s against 5 ms at 100k elements).
   */
  async readChains(table: string): Promise<ChainListing[] | undefined> {
    const result = await this.runner.run(this.nftBinary, ["-j", "list", "chains", "inet"]);
    const items = ((JSON.parse(result.stdout || "{}") as { nftables?: Record<string, unknown>[] }).nftables ?? []);
    const chains = items.map((item) => item["chain"] as (ChainListing & { table: string }) | undefined)
      .filter((chain): chain is ChainListing & { table: string } => chain !== undefined && chain.table === table)
      .map(({ name, hook, prio, policy }) => ({ name, hook, prio, policy }));
    return chains.length === 0 ? undefined : chains;
  }

  /**
   * nft 1.0.x opens /dev/stdin by path, which fails when stdin is the socket Node's child processes get;
   * the batch therefore goes as a private temporary file (the runner's inputFile).
   */
  private async send(flags: string[], commands: Command[], step: string): Promise<string> {
    const payload = JSON.stringify(batch(commands));
    try {
      return (await this.runner.run(this.nftBinary, [...flags, "-j", "-f"], { inputFile: payload })).stdout;
    } catch (error) {
      // The payload travels with the error (truncated) so an operator can see what nft refused.
      throw new AppError("apply-failed", `nft ${step} failed: ${errorMessage(error)}`, {
        cause: error,
        extra: { payloadExcerpt: payload.length > 4000 ? `${payload.slice(0, 4000)}…` : payload },
      });
    }
  }
}
