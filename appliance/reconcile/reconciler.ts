import type { Logger } from "pino";
import { AppError, errorMessage } from "../errors.js";
import type { EgressAddressManager } from "../kernel/addresses.js";
import { routeKey, type KernelRoute, type RouteManager } from "../kernel/routes.js";
import type { NftClient } from "../nft/nft-client.js";
import { desiredNftState, renderFull, renderIncremental, sameRules, type RulesetOptions } from "../nft/ruleset.js";
import { diffStates, type NftState } from "../nft/state.js";
import type { DesiredState } from "./desired-state.js";

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
}

/**
 * Makes the kernel match the store, Antrea-style: it remembers what it has realized and diffs desired
 * against that, so an unchanged store costs no system calls at all. A drift check reads the kernel back
 * and forgets the realized state of whatever someone else changed, which the next pass then rebuilds.
 */
export class Reconciler {
  private realizedNft: NftState | undefined;
  private realizedRoutes: KernelRoute[] | undefined;
  private realizedAddresses: Set<string> | undefined;
  private realizedDataplaneRevision: number | undefined;
  appliedRevision = 0;
  lastReport: ApplyReport | undefined;

  constructor(private readonly deps: ReconcilerDeps) {}

  /** One pass. Throws on failure, after recording it; the kernel then still holds the last good state. */
  async reconcile(): Promise<ApplyReport> {
    const started = performance.now();
    const revisions = this.deps.readRevisions?.();
    if (revisions && this.allRealized() && revisions.dataplane === this.realizedDataplaneRevision) {
      this.appliedRevision = revisions.store;
      this.lastReport = { revision: revisions.store, ok: true, at: new Date().toISOString(), durationMs: performance.now() - started, kind: "none" };
      return this.lastReport;
    }
    const desired = this.deps.readDesired();
    let kind: ApplyReport["kind"] = "none";
    try {
      await this.convergeAddresses(desired.egressIps, "add");
      kind = await this.convergeNft(desired);
      await this.convergeRoutes(desired);
      // After nft: a new egress IP starts answering only once the rules that use it are in place.
      await this.deps.vrrp?.converge(desired.egressIps);
      await this.convergeAddresses(desired.egressIps, "remove");
      this.appliedRevision = desired.revision;
      this.realizedDataplaneRevision = revisions?.dataplane;
      this.lastReport = { revision: desired.revision, ok: true, at: new Date().toISOString(), durationMs: performance.now() - started, kind };
      return this.lastReport;
    } catch (error) {
      this.lastReport = {
        revision: desired.revision, ok: false, at: new Date().toISOString(), durationMs: performance.now() - started, kind,
        error: errorMessage(error),
      };
      throw error;
    }
  }

  private allRealized(): boolean {
    return this.realizedNft !== undefined && this.realizedRoutes !== undefined && (this.deps.addresses === undefined || this.realizedAddresses !== undefined);
  }

  /** Reads the kernel back; whatever differs from what we realized is forgotten, so the next pass repairs it. */
  async detectDrift(): Promise<string[]> {
    const drift: string[] = [];
    if (this.realizedNft) {
      const actual = await this.deps.nft.readTable(this.deps.ruleset.table);
      const differences = actual ? diffStates(this.realizedNft, actual) : [{ what: "table", detail: "missing" }];
      if (differences.length > 0) {
        drift.push(...differences.map((d) => `nft ${d.what}: ${d.detail}`));
        this.realizedNft = undefined;
      }
    }
    if (this.realizedRoutes) {
      const actual = new Set((await this.deps.routes.list()).map(routeKey));
      const wanted = new Set(this.realizedRoutes.map(routeKey));
      if (actual.size !== wanted.size || [...wanted].some((k) => !actual.has(k))) {
        drift.push("routes differ from what was installed");
        this.realizedRoutes = undefined;
      }
    }
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

  /**
   * Two paths. A full replace (start, drift, recovery, rule changes) is dry-run with `nft -c`, applied as
   * one transaction and read back in full. An element change is applied as one transaction with --echo,
   * whose output is the kernel's own account of what it did and is compared with what was meant: at 10k+
   * elements every nft invocation first lists the whole set (≈85 ms at 10k, 1.5 s at 100k with nft 1.0.6),
   * so a separate check and listing would triple the time until a change is live. The drift timer still
   * reads everything back.
   */
  private async convergeNft(desired: DesiredState): Promise<ApplyReport["kind"]> {
    const wanted = desiredNftState(this.deps.ruleset, desired.mappings, desired.egressIps);
    const realized = this.realizedNft;
    if (realized && diffStates(wanted, realized).length === 0) return "none";
    // Until the kernel confirms the change, we do not claim to know what it holds.
    this.realizedNft = undefined;
    const commands = realized !== undefined && sameRules(realized, wanted) ? renderIncremental(this.deps.ruleset, realized, wanted) : undefined;
    // Large differences go the full way: the echo of a huge batch overruns netlink buffers (ENOBUFS), and
    // past a few thousand elements one table replace costs no more than the changes.
    if (commands && elementCount(commands) <= MAX_INCREMENTAL_ELEMENTS) {
      const echoed = await this.deps.nft.applyWithEcho(commands);
      const missing = unconfirmed(commands, echoed);
      if (missing.length > 0) throw new AppError("apply-failed", `nft did not confirm ${missing.length} change(s), e.g. ${missing[0]}`);
      this.realizedNft = wanted;
      return "incremental";
    }
    const full = renderFull(this.deps.ruleset, wanted);
    await this.deps.nft.check(full);
    await this.deps.nft.apply(full);
    const actual = await this.deps.nft.readTable(this.deps.ruleset.table);
    const differences = actual ? diffStates(wanted, actual) : [{ what: "table", detail: "missing after apply" }];
    if (differences.length > 0) {
      throw new AppError("apply-failed", `nft readback differs from what was applied: ${differences.map((d) => `${d.what}: ${d.detail}`).join("; ")}`);
    }
    this.realizedNft = wanted;
    return "full";
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

const MAX_INCREMENTAL_ELEMENTS = 2_000;

function elementCount(commands: Record<string, unknown>[]): number {
  return commands.reduce((n, command) => {
    const body = Object.values(command)[0] as Record<string, Record<string, unknown>>;
    return n + (((body["element"]?.["elem"] as unknown[] | undefined)?.length) ?? 1);
  }, 0);
}

/** The element and counter commands of `sent` that the kernel's echo does not report back as done. */
function unconfirmed(sent: Record<string, unknown>[], echoed: Record<string, unknown>[]): string[] {
  const keys = (commands: Record<string, unknown>[]) => commands.flatMap((command) => {
    const [verb, body] = Object.entries(command)[0] as [string, Record<string, Record<string, unknown>>];
    const element = body["element"];
    if (element) return ((element["elem"] as unknown[]) ?? []).map((e) => `${verb} ${String(element["name"])} ${canonicalKey(e)}`);
    const counter = body["counter"];
    return counter ? [`${verb} counter ${String(counter["name"])}`] : [];
  });
  const confirmed = new Set(keys(echoed));
  return keys(sent).filter((key) => !confirmed.has(key));
}

/** Element keys as text; the echo spells a /32 or /128 prefix as a bare address and the map data as-is. */
function canonicalKey(element: unknown): string {
  const key = Array.isArray(element) ? element[0] : element;
  const text = (part: unknown): string => {
    if (typeof part === "string") return part.includes("/") ? part : `${part}/${part.includes(":") ? 128 : 32}`;
    const p = part as { prefix?: { addr: string; len: number }; concat?: unknown[] };
    if (p.prefix) return `${p.prefix.addr}/${p.prefix.len}`;
    if (p.concat) return p.concat.map(text).join(" . ");
    return JSON.stringify(part);
  };
  return text(key);
}
