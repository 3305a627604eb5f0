import type { Logger } from "pino";
import { AppError, errorMessage } from "../errors.js";
import type { NftClient } from "../nft/nft-client.js";
import { chainSpecs, desiredNftState, renderFull, renderIncremental, sameRules, type RulesetOptions } from "../nft/ruleset.js";
import { diffStates, type NftState } from "../nft/state.js";
import { flatten, type Contributions } from "./contributions.js";
import { ClusterIsolation, type IsolatedCluster } from "./isolation.js";

/**
 * Makes our nft table hold what the clusters' contributions describe, and remembers what it realized so an
 * unchanged input costs nothing. A batch the kernel refuses never blocks everyone: see ClusterIsolation.
 */
export class NftConverger {
  private realized: NftState | undefined;
  private readonly isolation: ClusterIsolation;

  constructor(private readonly nft: NftClient, private readonly options: RulesetOptions, log: Logger) {
    this.isolation = new ClusterIsolation(log);
  }

  get isRealized(): boolean {
    return this.realized !== undefined;
  }

  isolated(): IsolatedCluster[] {
    return this.isolation.isolated();
  }

  /** Forgets what the kernel holds: the next pass replaces the table in full. */
  forget(): void {
    this.realized = undefined;
  }

  /** Reads the kernel back; a difference from what we realized is returned and forgotten. */
  async detectDrift(): Promise<string[]> {
    if (!this.realized) return [];
    const actual = await this.nft.readTable(this.options.table);
    const differences = actual ? diffStates(this.realized, actual) : [{ what: "table", detail: "missing" }];
    if (differences.length > 0) this.realized = undefined;
    return differences.map((d) => `nft ${d.what}: ${d.detail}`);
  }

  /**
   * The cheap check after tampering was reported: only the base chains are listed (no set contents), which
   * is enough to see a deleted table or chain or a changed hook, priority or policy.
   */
  async detectChainDrift(): Promise<string[]> {
    if (!this.realized) return [];
    const live = await this.nft.readChains(this.options.table);
    if (!live) {
      this.realized = undefined;
      return ["nft table: missing"];
    }
    const text = (c: { name: string; hook?: string | undefined; prio?: number | undefined; policy?: string | undefined }) => `${c.name} ${c.hook} ${c.prio} ${c.policy}`;
    const wanted = chainSpecs(this.options).map(text).sort();
    const actual = live.map(text).sort();
    if (wanted.join("\n") === actual.join("\n")) return [];
    this.realized = undefined;
    return [`nft chains: [${actual.join(", ")}], expected [${wanted.join(", ")}]`];
  }

  /**
   * Two paths. A full replace (start, drift, recovery, rule changes) is dry-run with `nft -c`, applied as
   * one transaction and read back in full. An element change is applied as one transaction with --echo,
   * whose output is the kernel's own account of what it did and is compared with what was meant: at 10k+
   * elements every nft invocation first lists the whole set (≈85 ms at 10k, 1.5 s at 100k with nft 1.0.6),
   * so a separate check and listing would triple the time until a change is live. The drift timer still
   * reads everything back. When the kernel refuses the content, the refused clusters are isolated.
   */
  async converge(desired: Contributions, egressIps: readonly string[]): Promise<"none" | "incremental" | "full"> {
    const effective = this.isolation.effective(desired);
    const wanted = this.render(effective, egressIps);
    const realized = this.realized;
    if (realized && diffStates(wanted, realized).length === 0) return "none";
    // Until the kernel confirms the change, we do not claim to know what it holds.
    this.realized = undefined;
    const commands = realized !== undefined && sameRules(realized, wanted) ? renderIncremental(this.options, realized, wanted) : undefined;
    let refusal: { error: string; cause: unknown };
    // Large differences go the full way: the echo of a huge batch overruns netlink buffers (ENOBUFS), and
    // past a few thousand elements one table replace costs no more than the changes.
    if (commands && elementCount(commands) <= MAX_INCREMENTAL_ELEMENTS) {
      try {
        const echoed = await this.nft.applyWithEcho(commands);
        const missing = unconfirmed(commands, echoed);
        if (missing.length > 0) throw new AppError("apply-failed", `nft did not confirm ${missing.length} change(s), e.g. ${missing[0]}`);
        this.succeeded(wanted, effective);
        return "incremental";
      } catch (error) {
        // Only a refusal of the content is a tenant's doing: a full check of the same state tells which.
        const verdict = await this.check(wanted);
        if (verdict.ok) throw error;
        refusal = verdict;
      }
    } else {
      const verdict = await this.check(wanted);
      if (verdict.ok) {
        await this.applyFull(wanted, effective);
        return "full";
      }
      refusal = verdict;
    }
    const candidate = await this.isolation.isolate(desired, (c) => this.check(this.render(c, egressIps)), refusal.error);
    // Not a tenant's doing (even the last good state is refused): the pass fails as a whole.
    if (!candidate) throw refusal.cause;
    await this.applyFull(this.render(candidate, egressIps), candidate);
    return "full";
  }

  private render(contributions: Contributions, egressIps: readonly string[]): NftState {
    const { mappings, guards } = flatten(contributions);
    return desiredNftState(this.options, mappings, egressIps, guards);
  }

  private async check(state: NftState): Promise<{ ok: true } | { ok: false; error: string; cause: unknown }> {
    try {
      await this.nft.check(renderFull(this.options, state));
      return { ok: true };
    } catch (error) {
      return { ok: false, error: errorMessage(error), cause: error };
    }
  }

  /** Applies a state that passed `nft -c` and reads it back. */
  private async applyFull(state: NftState, contributions: Contributions): Promise<void> {
    await this.nft.apply(renderFull(this.options, state));
    const actual = await this.nft.readTable(this.options.table);
    const differences = actual ? diffStates(state, actual) : [{ what: "table", detail: "missing after apply" }];
    if (differences.length > 0) {
      throw new AppError("apply-failed", `nft readback differs from what was applied: ${differences.map((d) => `${d.what}: ${d.detail}`).join("; ")}`);
    }
    this.succeeded(state, contributions);
  }

  private succeeded(state: NftState, contributions: Contributions): void {
    this.realized = state;
    this.isolation.realized(contributions);
  }
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

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Element keys as text; the echo spells a /32 or /128 prefix as a bare address and the map data as-is. */
function canonicalKey(element: unknown): string {
  const key = Array.isArray(element) ? element[0] : element;
  const text = (part: unknown): string => {
    if (typeof part === "string") return part.includes("/") || MAC.test(part) ? part.toLowerCase() : `${part}/${part.includes(":") ? 128 : 32}`;
    const p = part as { prefix?: { addr: string; len: number }; concat?: unknown[] };
    if (p.prefix) return `${p.prefix.addr}/${p.prefix.len}`;
    if (p.concat) return p.concat.map(text).join(" . ");
    return JSON.stringify(part);
  };
  return text(key);
}
