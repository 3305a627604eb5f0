import type { Logger } from "pino";
import { AppError, errorMessage } from "../errors.js";
import type { EgressAddressManager } from "../kernel/addresses.js";
import type { FailClosedRules } from "../kernel/fail-closed.js";
import type { NeighbourEvent, NeighbourManager } from "../kernel/neighbours.js";
import { routeKey, type KernelRoute, type RouteManager } from "../kernel/routes.js";
import type { NftClient } from "../nft/nft-client.js";
import { NftTable } from "../nft/nft-table.js";
import type { NetfilterTransactions } from "../system/netlink.js";
import type { RulesetOptions } from "../nft/ruleset.js";
import { contributionsByCluster } from "./contributions.js";
import type { BatchFailure } from "../kernel/ip-batch.js";
import { clusterSourcesOf, type DesiredState, type MappingChanges } from "./desired-state.js";
import type { ResolvedAddress } from "../policy/compile.js";
import type { IsolatedCluster } from "./isolation.js";
import { NextHopBinding } from "./next-hop-binding.js";
import { MAX_INCREMENTAL_ELEMENTS, NftConverger } from "./nft-converger.js";

export interface OwnedAddressLedger {
  list(): string[];
  record(address: string): void;
  forget(address: string): void;
}

export interface ReconcilerDeps {
  readDesired: () => DesiredState;
  /**
   * Cheap shortcut: the store's revision, the newest revision that touched the data plane's inputs other than
   * the egress IPs, and the egress IPs' addresses (all the data plane takes from them: a description changes
   * none), and how many snapshots were taken (one may replace everything at an unchanged revision). When none has
   * moved since a pass that realized everything, no pass is needed at all.
   */
  readRevisions?: () => { store: number; dataplane: number; egressIps: readonly string[]; snapshots?: number };
  /**
   * The shortcut when only mappings changed since `since` (readMappingChanges with the converger's limit): their
   * current rows, and the revisions they were read at; undefined when the full pass is needed.
   */
  readMappingChanges?: (since: number, limit: number) => MappingChanges | undefined;
  nft: NftClient;
  /** Element changes over netlink (see NftTable); absent: through nft. */
  netfilter?: NetfilterTransactions | undefined;
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
  /**
   * The current addresses of the DNS names policies use. `version` moves whenever they change (an answer, an
   * expiry), so that a pass follows even when the store did not move. Absent: names allow nothing.
   */
  policyNames?: { version(): number; addressesOf(name: string): readonly ResolvedAddress[] } | undefined;
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
  /** Source binding's view of the next hops' MACs; absent when binding is off. */
  private readonly binding: NextHopBinding | undefined;
  private realizedFailClosed = false;
  private realizedDataplaneRevision: number | undefined;
  private realizedSnapshots: number | undefined;
  private realizedEgressIps: readonly string[] | undefined;
  private realizedNamesVersion: number | undefined;
  /** The store revision everything realized was read at: where the changelog's shortcut starts. */
  private realizedRevision: number | undefined;
  appliedRevision = 0;
  lastReport: ApplyReport | undefined;

  constructor(private readonly deps: ReconcilerDeps) {
    this.nftState = new NftConverger(new NftTable(deps.nft, deps.ruleset, deps.netfilter), deps.log);
    this.binding = deps.neighbours && deps.ruleset.sourceBinding === "next-hop" ? new NextHopBinding(deps.neighbours, deps.log) : undefined;
  }

  /** One pass. Throws on failure, after recording it; the kernel then still holds the last good state. */
  async reconcile(): Promise<ApplyReport> {
    const started = performance.now();
    const revisions = this.deps.readRevisions?.();
    const namesVersion = this.deps.policyNames?.version();
    if (revisions && this.allRealized() && revisions.dataplane === this.realizedDataplaneRevision
      && revisions.snapshots === this.realizedSnapshots
      && sameList(revisions.egressIps, this.realizedEgressIps) && namesVersion === this.realizedNamesVersion) {
      this.appliedRevision = revisions.store;
      // Nothing the data plane is built from moved up to here: what is realized is the store at this revision.
      this.realizedRevision = revisions.store;
      this.lastReport = this.report(revisions.store, started, "none");
      return this.lastReport;
    }
    const mappingsOnly = revisions ? await this.convergeMappingsOnly(namesVersion, started) : undefined;
    if (mappingsOnly) return mappingsOnly;
    this.realizedRevision = undefined;
    const desired = this.deps.readDesired();
    let kind: ApplyReport["kind"] = "none";
    try {
      // First: the policy rule black-holes inside traffic without the mark our table sets. Before the table
      // exists (a boot with forwarding already on, an nft that keeps failing) that is all inside traffic: fail
      // closed. An upgrade from a table without the mark is cut off for the moment until the nft step below.
      await this.convergeFailClosed();
      await this.convergeAddresses(desired.egressIps, "add");
      const macs = (await this.binding?.converge(desired.routes.map((r) => r.via))) ?? new Map<string, string | undefined>();
      const names = this.deps.policyNames;
      kind = await this.nftState.converge(contributionsByCluster(desired, macs), desired.egressIps, {
        floors: desired.floors ?? [], clusterSources: clusterSourcesOf(desired), addressesOf: (name) => names?.addressesOf(name) ?? [],
      });
      await this.convergeRoutes(desired);
      // After nft: a new egress IP starts answering only once the rules that use it are in place.
      await this.deps.vrrp?.converge(desired.egressIps);
      await this.convergeAddresses(desired.egressIps, "remove");
      this.appliedRevision = desired.revision;
      this.realizedDataplaneRevision = revisions?.dataplane;
      this.realizedSnapshots = revisions?.snapshots;
      this.realizedEgressIps = revisions?.egressIps;
      this.realizedNamesVersion = namesVersion;
      this.realizedRevision = revisions ? desired.revision : undefined;
      this.lastReport = this.report(desired.revision, started, kind, [...macs].filter(([, mac]) => mac === undefined).map(([via]) => via));
      return this.lastReport;
    } catch (error) {
      this.lastReport = { ...this.report(desired.revision, started, kind), ok: false, error: errorMessage(error) };
      throw error;
    }
  }

  /**
   * When only mappings changed since everything was realized, and nothing else the pass depends on moved: their
   * elements alone change (see NftConverger.convergeMappings), read from the changelog instead of re-reading,
   * re-rendering and diffing every mapping. Undefined: the full pass follows.
   */
  private async convergeMappingsOnly(namesVersion: number | undefined, started: number): Promise<ApplyReport | undefined> {
    const since = this.realizedRevision;
    const read = this.deps.readMappingChanges;
    if (!read) return undefined;
    const fullPass = (reason: string) => {
      this.deps.log.debug({ reason }, "the changelog's shortcut does not apply; full pass");
      return undefined;
    };
    if (since === undefined || !this.allRealized()) return fullPass("nothing realized yet, or drift was found");
    if (namesVersion !== this.realizedNamesVersion) return fullPass("DNS answers moved");
    const changed = read(since, MAX_INCREMENTAL_ELEMENTS);
    if (!changed) return fullPass("more than mappings and their policies changed, or too many, or the changelog no longer covers it");
    if (changed.snapshots !== this.realizedSnapshots || !sameList(changed.egressIps, this.realizedEgressIps)) return fullPass("a snapshot or the egress IPs moved");
    const kind = await this.nftState.convergeMappings(changed.mappings);
    if (kind === undefined) return fullPass("the changed mappings' elements are not for the shortcut (a held-back cluster, DNS names, a large or failed batch)");
    this.appliedRevision = this.realizedRevision = changed.revision;
    this.realizedDataplaneRevision = changed.dataplane;
    this.lastReport = this.report(changed.revision, started, kind);
    return this.lastReport;
  }

  private report(revision: number, started: number, kind: ApplyReport["kind"], unresolved?: string[]): ApplyReport {
    const unresolvedNextHops = unresolved ?? this.binding?.unresolved() ?? [];
    const routes = [...this.refusedRoutes.values()].map((r) => ({ cluster: r.cluster, error: `route ${r.prefix} via ${r.via}: ${r.error}` }));
    return {
      revision, ok: true, at: new Date().toISOString(), durationMs: performance.now() - started, kind,
      isolated: [...this.nftState.isolated(), ...routes], unresolvedNextHops,
    };
  }

  private allRealized(): boolean {
    return this.nftState.isRealized && this.realizedRoutes !== undefined
      && (this.deps.addresses === undefined || this.realizedAddresses !== undefined)
      && (this.binding === undefined || this.binding.isRealized)
      && (this.deps.failClosed === undefined || this.realizedFailClosed);
  }

  /** Reads the kernel back; whatever differs from what we realized is forgotten, so the next pass repairs it. */
  async detectDrift(): Promise<string[] | undefined> {
    const drift = await this.nftState.detectDrift();
    // A pass changed the table while it was read back: ask again once the pass is over.
    if (drift === undefined) return undefined;
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
    drift.push(...((await this.binding?.detectDrift()) ?? []));
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
  detectChainDrift(): Promise<string[] | undefined> {
    return this.nftState.detectChainDrift();
  }

  /** The next pass re-reads the next hops' MACs (a short retry while some are unresolved, or a monitor restart). */
  forgetNeighbours(): void {
    this.binding?.forget();
  }

  /** A neighbour event from `ip monitor`: true when a pass must follow (see NextHopBinding.changed). */
  neighbourChanged(event: NeighbourEvent): boolean {
    return this.binding?.changed(event) ?? false;
  }

  private async convergeFailClosed(): Promise<void> {
    const rules = this.deps.failClosed;
    if (!rules || this.realizedFailClosed) return;
    const changes = await rules.converge();
    if (changes > 0) this.deps.log.info({ changes, ...rules.options }, "fail-closed policy rules installed");
    this.realizedFailClosed = true;
  }

  /**
   * A route the kernel refuses (a next hop it will not use) holds back that route only, reported as its
   * cluster's, like an nft refusal: everyone else's routes, and the rest of the pass, go on. It is tried
   * again when its cluster changes it.
   */
  private async convergeRoutes(desired: DesiredState): Promise<void> {
    const held = this.refusedRoutes;
    const wanted: KernelRoute[] = desired.routes
      .filter((r) => held.get(r.prefix)?.via !== r.via)
      .map((r) => ({ prefix: r.prefix, via: r.via }));
    for (const prefix of [...held.keys()]) {
      if (!desired.routes.some((r) => r.prefix === prefix && r.via === held.get(prefix)?.via)) held.delete(prefix);
    }
    const realized = this.realizedRoutes;
    if (realized && sameRouteSet(realized, wanted)) return;
    const actual = realized ?? (await this.deps.routes.list());
    this.realizedRoutes = undefined;
    let changes: number;
    try {
      changes = await this.deps.routes.converge(wanted, actual);
    } catch (error) {
      const refused = refusedRouteLines(error, desired);
      if (refused === undefined) throw error;
      for (const route of refused) {
        held.set(route.prefix, route);
        this.deps.log.error({ cluster: route.cluster, prefix: route.prefix, via: route.via, error: route.error },
          "the kernel refused a route; it is held back, everyone else's routes are applied");
      }
      // With -force every other line went through: what the kernel holds now is the rest.
      this.realizedRoutes = await this.deps.routes.list();
      return this.convergeRoutes(desired);
    }
    if (changes > 0) this.deps.log.info({ changes }, "routes converged");
    this.realizedRoutes = wanted;
  }

  private readonly refusedRoutes = new Map<string, { cluster: string; prefix: string; via: string; error: string }>();

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

function sameList(a: readonly string[], b: readonly string[] | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((item, i) => item === b[i]);
}

function sameRouteSet(a: KernelRoute[], b: KernelRoute[]): boolean {
  if (a.length !== b.length) return false;
  const keys = new Set(a.map(routeKey));
  return b.every((r) => keys.has(routeKey(r)));
}

/** The `route replace` lines of a failed route batch, as the routes and clusters they belong to; undefined for any other failure. */
function refusedRouteLines(error: unknown, desired: DesiredState): { cluster: string; prefix: string; via: string; error: string }[] | undefined {
  const failures = error instanceof AppError ? (error.extra["failures"] as BatchFailure[] | undefined) : undefined;
  if (!failures || failures.length === 0) return undefined;
  const refused: { cluster: string; prefix: string; via: string; error: string }[] = [];
  for (const failure of failures) {
    const [verb, action, prefix, , via] = failure.line.split(" ");
    const route = desired.routes.find((r) => r.prefix === prefix && r.via === via);
    if (verb !== "route" || action !== "replace" || !route) return undefined;
    refused.push({ cluster: route.cluster, prefix: route.prefix, via: route.via, error: failure.error });
  }
  return refused;
}
