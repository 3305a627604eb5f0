import type { Logger } from "pino";
import type { Mapping } from "../model.js";
import type { MappingPolicyInput } from "../policy/compile.js";
import { signature, stillWanted, type Contribution, type Contributions } from "./contributions.js";

export interface IsolatedCluster {
  cluster: string;
  error: string;
}

/** Asks the kernel (`nft -c`) whether a table built from these contributions would be accepted. */
export type Acceptance = (candidate: Contributions) => Promise<{ ok: true } | { ok: false; error: string }>;

/**
 * Keeps one tenant's refused change from stopping everyone else's. It remembers, per cluster, the
 * contribution last realized in the kernel ("last good"). When the kernel refuses a batch, it starts from
 * every cluster's last-good state and adds the changed clusters' desired states, keeping what the kernel
 * accepts; a cluster whose change is refused keeps the part of its last-good state it still wants (or nothing,
 * if it never had one: removals always go through) and is held back until its desired state changes again: an
 * unchanged refusal is never re-checked.
 */
export class ClusterIsolation {
  private lastGood: Contributions = new Map();
  private readonly held = new Map<string, { signature: string; error: string }>();

  constructor(private readonly log: Logger) {}

  /** Clusters held back now, by name. */
  isolated(): IsolatedCluster[] {
    return [...this.held].sort(([a], [b]) => a.localeCompare(b)).map(([cluster, { error }]) => ({ cluster, error }));
  }

  /** `desired`, except that a held-back cluster whose desired state is unchanged keeps its last-good state. */
  effective(desired: Contributions): Contributions {
    const result: Contributions = new Map();
    for (const [cluster, contribution] of desired) {
      const held = this.held.get(cluster);
      if (held && held.signature === signature(contribution)) {
        const good = stillWanted(this.lastGood.get(cluster), contribution);
        if (good) result.set(cluster, good);
        continue;
      }
      // Changed since it was refused (or never refused): it gets a fresh chance.
      this.held.delete(cluster);
      result.set(cluster, contribution);
    }
    for (const cluster of this.held.keys()) if (!desired.has(cluster)) this.held.delete(cluster);
    return result;
  }

  /** Records what the kernel now holds, after a successful apply. */
  realized(applied: Contributions): void {
    this.lastGood = new Map(applied);
  }

  /** A cluster's last realized contribution (what the kernel holds of it). */
  realizedContribution(cluster: string): Contribution | undefined {
    return this.lastGood.get(cluster);
  }

  /** After an element change of a cluster's mappings (and their policies) alone: what its realized contribution now holds. */
  realizedMappingsChanged(cluster: string, mappings: Mapping[], policies: MappingPolicyInput[]): void {
    const good = this.lastGood.get(cluster) ?? { mappings: [], policies: [], claimed: [], bound: [] };
    this.lastGood.set(cluster, { ...good, mappings, policies });
  }

  /**
   * Builds the largest candidate the kernel accepts: last-good states first, then the changed clusters,
   * added by halves (a refused group is split until single clusters remain), so k refused clusters among n
   * changed ones cost about 2·k·log2(n) checks instead of n. `allRefused` is the error of the attempt that
   * already tried every change at once. Returns undefined when even the last-good state is refused: then
   * no tenant's input is the cause and there is nothing to isolate.
   */
  async isolate(desired: Contributions, accepts: Acceptance, allRefused: string): Promise<Contributions | undefined> {
    const wanted = this.effective(desired);
    // The starting point: every cluster's last good state, less whatever it has withdrawn since.
    let candidate: Contributions = new Map();
    for (const [cluster, good] of this.lastGood) {
      const kept = stillWanted(good, desired.get(cluster));
      if (kept) candidate.set(cluster, kept);
    }
    const changed = [...new Set([...wanted.keys(), ...candidate.keys()])].sort()
      .filter((cluster) => signature(wanted.get(cluster)) !== signature(candidate.get(cluster)));
    if (changed.length === 0 || !(await accepts(candidate)).ok) return undefined;
    const withChanges = (group: string[]): Contributions => {
      const trial = new Map(candidate);
      for (const cluster of group) {
        const contribution: Contribution | undefined = wanted.get(cluster);
        if (contribution) trial.set(cluster, contribution);
        else trial.delete(cluster);
      }
      return trial;
    };
    const add = async (group: string[], knownError?: string): Promise<void> => {
      if (group.length === 0) return;
      const error = knownError ?? (await (async () => {
        const verdict = await accepts(withChanges(group));
        return verdict.ok ? undefined : verdict.error;
      })());
      if (error === undefined) {
        candidate = withChanges(group);
        return;
      }
      if (group.length === 1) {
        const cluster = group[0] as string;
        this.held.set(cluster, { signature: signature(desired.get(cluster)), error });
        this.log.error({ cluster, err: error }, "the kernel refused this cluster's data-plane change; its last good state stays in force");
        return;
      }
      const half = Math.ceil(group.length / 2);
      await add(group.slice(0, half));
      await add(group.slice(half));
    };
    await add(changed, allRefused);
    return candidate;
  }
}
