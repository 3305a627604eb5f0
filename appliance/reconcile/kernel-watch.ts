import type { Logger } from "pino";
import { parseNeighbourEvent, type NeighbourEvent } from "../kernel/neighbours.js";
import type { LineStream, LineStreams } from "../system/line-stream.js";
import type { CheckKind } from "./loop.js";

export interface KernelWatchDeps {
  streams: LineStreams;
  loop: { requestCheck(kind: CheckKind): void; trigger(): void };
  reconciler: { neighbourChanged(event: NeighbourEvent): boolean; forgetNeighbours(): void };
  table: string;
  /** Watch the neighbours of this interface (source binding); absent: no neighbour monitor. */
  neighbourInterface?: string | undefined;
  log: Logger;
}

/**
 * Notices at once what the drift timer would notice late: our table, a chain or a rule deleted (a flush
 * leaves pods cut off by the fail-closed rule until the repair, so the repair must not wait 30 s), and a
 * next hop's MAC changing (a replaced node must not stay unbound until the timer).
 *
 * `nft -j monitor rules` reports rules only: element changes are ours nearly always and would make the monitor
 * print every element of a full replace. A deleted table or chain shows as the deletion of each of its rules (the
 * kernel reports them one by one). Not `monitor destroy`: nft 1.1 (Debian 13) no longer parses it. Deletions seen while a pass runs are
 * mostly the pass's own (a full replace deletes the table first); the loop defers those to one cheap check.
 */
export class KernelWatch {
  private streams: LineStream[] = [];

  constructor(private readonly deps: KernelWatchDeps) {}

  start(): void {
    const { deps } = this;
    this.streams.push(deps.streams.open({ name: "nft-monitor", command: "nft", args: ["-j", "monitor", "rules"] }, {
      onLine: (line) => {
        const kind = this.classify(line);
        if (kind) deps.loop.requestCheck(kind);
      },
      // Deletions may have happened while no monitor listened.
      onStart: () => deps.loop.requestCheck("chains"),
    }));
    const inside = deps.neighbourInterface;
    if (inside !== undefined) {
      this.streams.push(deps.streams.open({ name: "neighbour-monitor", command: "ip", args: ["monitor", "neigh", "dev", inside] }, {
        onLine: (line) => {
          const event = parseNeighbourEvent(line);
          if (event && deps.reconciler.neighbourChanged(event)) {
            deps.log.info({ event }, "a next hop's neighbour entry changed; updating source binding");
            deps.loop.trigger();
          }
        },
        onStart: () => {
          deps.reconciler.forgetNeighbours();
          deps.loop.trigger();
        },
      }));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.streams.splice(0).map((stream) => stream.stop()));
  }

  /**
   * A deleted table or chain of ours is seen by the cheap check (chains only); a deleted rule needs the
   * full readback. Sets, counters and elements are ignored: their deletion follows a rule's or is ours.
   */
  private classify(line: string): CheckKind | undefined {
    let event: Record<string, Record<string, { family?: string; table?: string; name?: string }>>;
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return undefined;
    }
    const deleted = event["delete"];
    if (!deleted) return undefined;
    const table = deleted["table"];
    if (table) return table.family === "inet" && table.name === this.deps.table ? "chains" : undefined;
    const chain = deleted["chain"];
    if (chain) return chain.family === "inet" && chain.table === this.deps.table ? "chains" : undefined;
    const rule = deleted["rule"];
    if (rule) return rule.family === "inet" && rule.table === this.deps.table ? "full" : undefined;
    return undefined;
  }
}
