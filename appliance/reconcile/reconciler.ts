import type { Logger } from "pino";
import { errorMessage } from "../errors.js";
import type { EgressAddressManager } from "../kernel/addresses.js";
import type { FailClosedRules } from "../kernel/fail-closed.js";
import type { NeighbourEvent, NeighbourManager } from "../kernel/neighbours.js";
import { routeKey, type KernelRoute, type RouteManager } from "../kernel/routes.js";
import type { NftClient } from "../nft/nft-client.js";
import type { RulesetOptions } from "../nft/ruleset.js";
import { contributionsByCluster } from "./contributions.js";
import type { DesiredState } from "./desired-state.js";
import type { IsolatedCluster } from "./isolation.js";
import { NftConverger } from "./nft-converger.js";

export interface OwnedAddressLedger {
  list(): string[];
  record(address: string): void;
  forget(address: string): void;
}

export interface ReconcilerDeps {
  readDesired: () => DesiredState;
  /**
   * Cheap shortcut: the store's revision and the newest revision that touched the data plane's inputs.
   * When the latter has not moved since a pass that realized everything, no pass is needed at all.
   */
  readRevisions?: () => { store: number; dataplane: number };
  nft: NftClient;
  routes: RouteManager;
  /** Source binding: the next hops' managed neighbour entries and MACs (required when ruleset.sourceBinding is "next-hop"). */
  neighbours?: NeighbourManager | undefined;
  /** The fail-closed policy rules (with ruleset.failClosedMark). */
  failClosed?: FailClosedRules | undefined;
  /** Absent in HA mode, where keepalived owns the addresses. */
  addresses?: { manager: EgressAddressManager; ledger: OwnedAddressLedger } | undefined;
  /** HA mode: keepalived's config follows the egress IPs (it then owns the addresses). */
  vrrp?: { converge(egressIps: readonly string[]): Promise<boolean> } | undefined;
  ruleset: RulesetOptions;
  log: Logger;
}

export interface ApplyReport {
  revision: number;
  ok: boolean;
  at: string;
  durationMs: number;
  kind: "none" | "incremental" | "full";
  error?: string;
  /**
   * Clusters whose latest change the kernel refused: they keep their last good state (or none) while every
   * other cluster's changes apply; the pass still counts as applied. Empty normally.
   */
  isolated?: IsolatedCluster[];
  /** Route next hops whose MAC is not resolved yet: source binding drops their pods' new connections until it is. */
  unresolvedNextHops?: string[];
}

/**
 * Makes the kernel match the store, Antrea-style: it remembers what it has realized and diffs desired
 * against that, so an unchanged store costs no system calls at all. A drift check reads the kernel back
 * and forgets the realized state of whatever someone else changed, which the next pass then rebuilds.
 */
export class Reconciler {
  private readonly nftState: NftConverger;
  private realizedRoutes: KernelRoute[] | undefined;
  private realizedAddresses: Set<string> | undefined;
  /** Each route next hop's MAC as last read (undefined: unresolved). */
  private realizedNeighbours: Map<string, string | undefined> | undefined;
  /** Bumped by every reason to re-read the neighbours, so a read that raced with one is not kept. */
  private neighbourGeneration = 0;
  /** Each next hop's last resolved MAC, to notice (and log) a change. */
  private readonly knownMacs = new Map<string, string>();
  /** The last MAC seen for every neighbour on the inside link (from listings and events). */
  private readonly linkMacs = new Map<string, string>();
  /** Next hops whose MAC is in doubt: the next pass makes the kernel resolve them afresh. */
  private readonly suspects = new Set<string>();
  /** The route next hops of the last pass (events about any other address are not ours). */
  private nextHops = new Set<string>();
  private realizedFailClosed = false;
  private realizedDataplaneRevision: number | undefined;
  appliedRevision = 0;
  lastReport: ApplyReport | undefined;

  constructor(private readonly deps: ReconcilerDeps) {
    this.nftState = new NftConverger(deps.nft, deps.ruleset, deps.log);
  }

  /** One pass. Throws on failure, after recording it; the kernel then still holds the last good state. */
  async reconcile(): Promise<ApplyReport> {
    const started = performance.now();
    const revisions = this.deps.readRevisions?.();
    if (revisions && this.allRealized() && revisions.dataplane === this.realizedDataplaneRevision) {
      this.appliedRevision = revisions.store;
      this.lastReport = this.report(revisions.store, started, "none");
      return this.lastReport;
    }
    const desired = this.deps.readDesired();
    let kind: ApplyReport["kind"] = "none";
    try {
      await this.convergeAddresses(desired.egressIps, "add");
      const macs = await this.convergeNeighbours(desired);
      kind = await this.nftState.converge(contributionsByCluster(desired, macs), desired.egressIps);
      // After nft: the policy rule black-holes inside traffic without the mark our table sets.
      await this.convergeFailClosed();
      await this.convergeRoutes(desired);
      // After nft: a new egress IP starts answering only once the rules that use it are in place.
      await this.deps.vrrp?.converge(desired.egressIps);
      await this.convergeAddresses(desired.egressIps, "remove");
      this.appliedRevision = desired.revision;
      this.realizedDataplaneRevision = revisions?.dataplane;
      this.lastReport = this.report(desired.revision, started, kind, [...macs].filter(([, mac]) => mac === undefined).map(([via]) => via));
      return this.lastReport;
    } catch (error) {
      this.lastReport = { ...this.report(desired.revision, started, kind), ok: false, error: errorMessage(error) };
      throw error;
    }
  }

  private report(revision: number, started: number, kind: ApplyReport["kind"], unresolved?: string[]): ApplyReport {
    const unresolvedNextHops = unresolved ?? [...(this.realizedNeighbours ?? [])].filter(([, mac]) => mac === undefined).map(([via]) => via);
    return {
      revision, ok: true, at: new Date().toISOString(), durationMs: performance.now() - started, kind,
      isolated: this.nftState.isolated(), unresolvedNextHops,
    };
  }

  private allRealized(): boolean {
    return this.nftState.isRealized && this.realizedRoutes !== undefined
      && (this.deps.addresses === undefined || this.realizedAddresses !== undefined)
      && (this.deps.neighbours === undefined || this.realizedNeighbours !== undefined)
      && (this.deps.failClosed === undefined || this.realizedFailClosed);
  }

  /** Reads the kernel back; whatever differs from what we realized is forgotten, so the next pass repairs it. */
  async detectDrift(): Promise<string[]> {
    const drift = await this.nftState.detectDrift();
    if (this.realizedRoutes) {
      const actual = new Set((await this.deps.routes.list()).map(routeKey));
      const wanted = new Set(this.realizedRoutes.map(routeKey));
      if (actual.size !== wanted.size || [...wanted].some((k) => !actual.has(k))) {
        drift.push("routes differ from what was installed");
        this.realizedRoutes = undefined;
      }
    }
    if (this.realizedFailClosed && this.deps.failClosed && !this.deps.failClosed.matches(await this.deps.failClosed.list())) {
      drift.push("the fail-closed policy rules differ from what was installed");
      this.realizedFailClosed = false;
    }
    drift.push(...(await this.detectNeighbourDrift()));
    if (this.realizedAddresses && this.deps.addresses) {
      const present = await this.deps.addresses.manager.present();
      const missing = [...this.realizedAddresses].filter((a) => !present.has(a));
      if (missing.length > 0) {
        drift.push(`egress addresses missing from ${this.deps.addresses.manager.outsideInterface}: ${missing.join(", ")}`);
        this.realizedAddresses = undefined;
      }
    }
    return drift;
  }

  /** The cheap check (our table's base chains only), for when someone was seen deleting in our table. */
  detectChainDrift(): Promise<string[]> {
    return this.nftState.detectChainDrift();
  }

  /** The next pass re-reads the next hops' MACs (a short retry while some are unresolved, or a monitor restart). */
  forgetNeighbours(): void {
    this.neighbourGeneration++;
    this.realizedNeighbours = undefined;
  }

  /**
   * A neighbour event from the kernel. True when the next hops' MACs must be read again (a pass must
   * follow): a next hop with a MAC other than the bound one (a replaced node, a resolution) or a deleted
   * entry. A state change without a new MAC (STALE, PROBE, even FAILED) keeps the binding as it is.
   *
   * Another host on the link that changes its MAC matters too: a replaced node's first neighbour
   * solicitations come from its link-local address, so the gateway learns the new MAC there while the
   * entry of the node's global address keeps the old MAC until the kernel's next probe, tens of seconds
   * later. Next hops bound to the MAC that host left are therefore resolved afresh.
   */
  neighbourChanged(event: NeighbourEvent): boolean {
    const previous = this.linkMacs.get(event.address);
    if (event.mac !== undefined) this.linkMacs.set(event.address, event.mac);
    if (!this.nextHops.has(event.address)) {
      if (event.mac === undefined || previous === undefined || previous === event.mac) return false;
      const left = [...(this.realizedNeighbours ?? [])].filter(([, mac]) => mac === previous).map(([via]) => via);
      if (left.length === 0) return false;
      for (const via of left) this.suspects.add(via);
      this.forgetNeighbours();
      return true;
    }
    const realized = this.realizedNeighbours;
    // Without a realized view a pass may be reading the neighbours right now: it must not keep what it read.
    if (realized && !event.deleted && (event.mac === undefined || event.mac === realized.get(event.address))) return false;
    this.forgetNeighbours();
    return true;
  }

  private async detectNeighbourDrift(): Promise<string[]> {
    const realized = this.realizedNeighbours;
    if (!realized || !this.deps.neighbours) return [];
    const present = await this.deps.neighbours.list();
    const drift: string[] = [];
    for (const [via, mac] of realized) {
      const entry = present.get(via);
      if (!entry) drift.push(`next hop ${via}: neighbour entry missing`);
      else if (entry.mac !== undefined && entry.mac !== mac) drift.push(`next hop ${via}: MAC ${mac ?? "unresolved"} is now ${entry.mac}`);
    }
    if (drift.length > 0) this.forgetNeighbours();
    return drift;
  }

  private async convergeNeighbours(desired: DesiredState): Promise<ReadonlyMap<string, string | undefined>> {
    const neighbours = this.deps.neighbours;
    if (!neighbours || this.deps.ruleset.sourceBinding !== "next-hop") return new Map();
    const nextHops = [...new Set(desired.routes.map((r) => r.via))].sort();
    this.nextHops = new Set(nextHops);
    const realized = this.realizedNeighbours;
    if (realized && realized.size === nextHops.length && nextHops.every((via) => realized.has(via))) return realized;
    const generation = this.neighbourGeneration;
    const suspects = [...this.suspects];
    this.suspects.clear();
    let { macs, link } = await neighbours.converge(nextHops, suspects);
    // A next hop that moved to another MAC: the host's other addresses (IPv4 and IPv6 of one node) moved too.
    const left = new Set([...macs].filter(([via, mac]) => mac !== undefined && (this.knownMacs.get(via) ?? mac) !== mac).map(([via]) => this.knownMacs.get(via)));
    const siblings = nextHops.filter((via) => left.has(macs.get(via)));
    if (siblings.length > 0) ({ macs, link } = await neighbours.converge(nextHops, siblings));
    for (const [address, entry] of link) if (entry.mac !== undefined) this.linkMacs.set(address, entry.mac);
    for (const [via, mac] of macs) {
      const before = this.knownMacs.get(via);
      if (mac === undefined) continue;
      // A next hop's MAC changing moves which host may send from its pods' addresses: worth a record.
      if (before !== undefined && before !== mac) this.deps.log.warn({ nextHop: via, from: before, to: mac }, "next hop changed its MAC; source binding follows it");
      this.knownMacs.set(via, mac);
    }
    for (const via of this.knownMacs.keys()) if (!macs.has(via)) this.knownMacs.delete(via);
    if (generation === this.neighbourGeneration) this.realizedNeighbours = macs;
    return macs;
  }

  private async convergeFailClosed(): Promise<void> {
    const rules = this.deps.failClosed;
    if (!rules || this.realizedFailClosed) return;
    const changes = await rules.converge();
    if (changes > 0) this.deps.log.info({ changes, ...rules.options }, "fail-closed policy rules installed");
    this.realizedFailClosed = true;
  }

  private async convergeRoutes(desired: DesiredState): Promise<void> {
    const wanted: KernelRoute[] = desired.routes.map((r) => ({ prefix: r.prefix, via: r.via }));
    const realized = this.realizedRoutes;
    if (realized && sameRouteSet(realized, wanted)) return;
    const actual = realized ?? (await this.deps.routes.list());
    this.realizedRoutes = undefined;
    const changes = await this.deps.routes.converge(wanted, actual);
    if (changes > 0) this.deps.log.info({ changes }, "routes converged");
    this.realizedRoutes = wanted;
  }

  /**
   * Adding happens before the nft change and removing after it, so a mapping never points at an egress
   * IP the gateway does not hold.
   */
  private async convergeAddresses(egressIps: string[], phase: "add" | "remove"): Promise<void> {
    const addresses = this.deps.addresses;
    if (!addresses) return;
    const wanted = new Set(egressIps);
    const realized = this.realizedAddresses;
    if (realized && realized.size === wanted.size && [...wanted].every((a) => realized.has(a))) return;
    if (phase === "add") {
      const present = realized ?? (await addresses.manager.present());
      for (const address of wanted) {
        if (present.has(address)) {
          if (!addresses.ledger.list().includes(address)) addresses.ledger.record(address);
          continue;
        }
        addresses.ledger.record(address);
        await addresses.manager.add(address);
      }
      return;
    }
    for (const address of addresses.ledger.list()) {
      if (wanted.has(address)) continue;
      await addresses.manager.remove(address);
      addresses.ledger.forget(address);
    }
    this.realizedAddresses = wanted;
  }
}

function sameRouteSet(a: KernelRoute[], b: KernelRoute[]): boolean {
  if (a.length !== b.length) return false;
  const keys = new Set(a.map(routeKey));
  return b.every((r) => keys.has(routeKey(r)));
}
