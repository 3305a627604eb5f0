import type { Logger } from "pino";
import type { NeighbourEvent, NeighbourManager } from "../kernel/neighbours.js";

/**
 * Source binding's view of the route next hops: their MACs as last read from the neighbour table, kept as
 * realized state like the routes (an unchanged view costs no system call), forgotten when the kernel says a
 * MAC changed, and re-read by the next pass.
 */
export class NextHopBinding {
  /** Each next hop's MAC as last read (undefined: unresolved). */
  private realized: Map<string, string | undefined> | undefined;
  /** Bumped by every reason to re-read, so a read that raced with one is not kept. */
  private generation = 0;
  /** Each next hop's last resolved MAC, to notice (and log) a change. */
  private readonly knownMacs = new Map<string, string>();
  /** The last MAC seen for every neighbour on the inside link (from listings and events). */
  private readonly linkMacs = new Map<string, string>();
  /** Next hops whose MAC is in doubt: the next read makes the kernel resolve them afresh. */
  private readonly suspects = new Set<string>();
  /** The next hops of the last pass (events about any other address only matter through their MAC). */
  private nextHops = new Set<string>();

  constructor(private readonly neighbours: NeighbourManager, private readonly log: Logger) {}

  get isRealized(): boolean {
    return this.realized !== undefined;
  }

  unresolved(): string[] {
    return [...(this.realized ?? [])].filter(([, mac]) => mac === undefined).map(([via]) => via);
  }

  forget(): void {
    this.generation++;
    this.realized = undefined;
  }

  /** Each next hop's MAC, read (and its managed entry made) only when the next hops or their MACs changed. */
  async converge(vias: readonly string[]): Promise<ReadonlyMap<string, string | undefined>> {
    const nextHops = [...new Set(vias)].sort();
    this.nextHops = new Set(nextHops);
    const realized = this.realized;
    if (realized && realized.size === nextHops.length && nextHops.every((via) => realized.has(via))) return realized;
    const generation = this.generation;
    const suspects = [...this.suspects];
    this.suspects.clear();
    let { macs, link } = await this.neighbours.converge(nextHops, suspects);
    // A next hop that moved to another MAC: the host's other addresses (IPv4 and IPv6 of one node) moved too.
    const left = new Set([...macs].filter(([via, mac]) => mac !== undefined && (this.knownMacs.get(via) ?? mac) !== mac).map(([via]) => this.knownMacs.get(via)));
    const siblings = nextHops.filter((via) => left.has(macs.get(via)));
    if (siblings.length > 0) ({ macs, link } = await this.neighbours.converge(nextHops, siblings));
    for (const [address, entry] of link) if (entry.mac !== undefined) this.linkMacs.set(address, entry.mac);
    for (const [via, mac] of macs) {
      const before = this.knownMacs.get(via);
      if (mac === undefined) continue;
      // A next hop's MAC changing moves which host may send from its pods' addresses: worth a record.
      if (before !== undefined && before !== mac) this.log.warn({ nextHop: via, from: before, to: mac }, "next hop changed its MAC; source binding follows it");
      this.knownMacs.set(via, mac);
    }
    for (const via of this.knownMacs.keys()) if (!macs.has(via)) this.knownMacs.delete(via);
    if (generation === this.generation) this.realized = macs;
    return macs;
  }

  /**
   * A neighbour event from the kernel. True when the MACs must be read again (a pass must follow): a next
   * hop with a MAC other than the bound one (a replaced node, a resolution) or a deleted entry. A state
   * change without a new MAC (STALE, PROBE, even FAILED) keeps the binding as it is.
   *
   * Another host on the link that changes its MAC matters too: a replaced node's first neighbour
   * solicitations come from its link-local address, so the gateway learns the new MAC there while the
   * entry of the node's global address keeps the old MAC until the kernel's next probe, tens of seconds
   * later. Next hops bound to the MAC that host left are therefore resolved afresh.
   */
  changed(event: NeighbourEvent): boolean {
    const previous = this.linkMacs.get(event.address);
    if (event.mac !== undefined) this.linkMacs.set(event.address, event.mac);
    if (!this.nextHops.has(event.address)) {
      if (event.mac === undefined || previous === undefined || previous === event.mac) return false;
      const left = [...(this.realized ?? [])].filter(([, mac]) => mac === previous).map(([via]) => via);
      if (left.length === 0) return false;
      for (const via of left) this.suspects.add(via);
      this.forget();
      return true;
    }
    const realized = this.realized;
    // Without a realized view a pass may be reading the neighbours right now: it must not keep what it read.
    if (realized && !event.deleted && (event.mac === undefined || event.mac === realized.get(event.address))) return false;
    this.forget();
    return true;
  }

  /** The drift check: a next hop whose entry is gone or whose MAC changed without an event we saw. */
  async detectDrift(): Promise<string[]> {
    const realized = this.realized;
    if (!realized) return [];
    const present = await this.neighbours.list();
    const drift: string[] = [];
    for (const [via, mac] of realized) {
      const entry = present.get(via);
      if (!entry) drift.push(`next hop ${via}: neighbour entry missing`);
      else if (entry.mac !== undefined && entry.mac !== mac) drift.push(`next hop ${via}: MAC ${mac ?? "unresolved"} is now ${entry.mac}`);
    }
    if (drift.length > 0) this.forget();
    return drift;
  }
}
