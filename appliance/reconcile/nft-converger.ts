import type { Logger } from "pino";
import { AppError, errorMessage } from "../errors.js";
import type { NftTable } from "../nft/nft-table.js";
import { sameRules } from "../nft/ruleset.js";
import { applyStateChanges, changeCount, invertedChanges, stateChanges, type NftState, type StateDifference } from "../nft/state.js";
import { NetlinkRefusal } from "../system/netlink.js";
import { mappingStateChanges, type MappingChange, type MappingSide } from "./mapping-delta.js";
import type { EgressPolicy, Mapping, PolicyFloor } from "../model.js";
import { PolicyCompiler, type MappingPolicyInput, type ResolvedAddress } from "../policy/compile.js";
import { flatten, mergeInStoreOrder, policiesInMappingOrder, type Contributions } from "./contributions.js";

/** What the policies are compiled against besides the clusters' contributions: the admin's floors and the DNS answers. */
export interface PolicyContext {
  floors: readonly PolicyFloor[];
  /** Each cluster's source ranges (a cluster's floor applies to them). */
  clusterSources: ReadonlyMap<string, readonly string[]>;
  addressesOf: (name: string) => readonly ResolvedAddress[];
}

const NO_POLICY_CONTEXT: PolicyContext = { floors: [], clusterSources: new Map(), addressesOf: () => [] };
import { ClusterIsolation, type IsolatedCluster } from "./isolation.js";

/**
 * Makes our nft table hold what the clusters' contributions describe, and remembers what it realized so an
 * unchanged input costs nothing. A batch the kernel refuses never blocks everyone: see ClusterIsolation.
 */
export class NftConverger {
  private realized: NftState | undefined;
  /** Moves whenever this converger starts changing the kernel's table: a drift check that saw it move compared too late. */
  private changesMade = 0;
  private readonly isolation: ClusterIsolation;
  private readonly policies = new PolicyCompiler();

  constructor(private readonly table: NftTable, private readonly log: Logger) {
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

  /**
   * Reads the kernel back; a difference from what we realized is returned and forgotten. A pass that changed the
   * table while the readback ran makes its comparison meaningless (the realized state is changed in place): then the
   * answer is undefined, and the caller checks again once the pass is over.
   */
  async detectDrift(): Promise<string[] | undefined> {
    const realized = this.realized;
    if (!realized) return [];
    const changesBefore = this.changesMade;
    const differences = await this.table.differences(realized);
    if (this.changesMade !== changesBefore) return undefined;
    return this.forgetOn(differences);
  }

  /**
   * The cheap check after tampering was reported: only the base chains are listed (no set contents), which
   * is enough to see a deleted table or chain or a changed hook, priority or policy.
   */
  async detectChainDrift(): Promise<string[] | undefined> {
    if (!this.realized) return [];
    const changesBefore = this.changesMade;
    const differences = await this.table.chainDifferences();
    if (this.changesMade !== changesBefore) return undefined;
    return this.forgetOn(differences);
  }

  private forgetOn(differences: StateDifference[]): string[] {
    if (differences.length > 0) this.realized = undefined;
    return differences.map((d) => `nft ${d.what}: ${d.detail}`);
  }

  /**
   * Two paths. A full replace (start, drift, recovery, rule changes) is applied as one transaction and read
   * back in full. It is not dry-run first: `nft -c` runs the same evaluation and the same kernel transaction,
   * only aborted, so it can refuse nothing the real apply would accept; and a refused transaction changes
   * nothing, so the last good table stays in force. Only after a refusal does a check tell whether the content
   * is at fault (0.9 s of 3.5 s at 100k mappings was that dry run). An element change is applied as one
   * transaction confirmed by the kernel itself: over netlink, its acknowledgement of every message; through nft,
   * the --echo output compared with what was meant. At 10k+ elements every nft invocation first lists every set
   * (≈85 ms at 10k, 1.5 s at 100k with nft 1.0.6), which netlink does not; a separate check and listing would
   * multiply the time until a change is live. The drift timer still reads everything back. When the kernel
   * refuses the content, the refused clusters are isolated.
   */
  async converge(desired: Contributions, egressIps: readonly string[], policy: PolicyContext = NO_POLICY_CONTEXT): Promise<"none" | "incremental" | "full"> {
    const effective = this.isolation.effective(desired);
    const render = (contributions: Contributions) => this.render(contributions, egressIps, policy);
    const wanted = render(effective);
    const realized = this.realized;
    // With the same rules, the element and counter changes are the whole difference (one walk over 100k elements
    // instead of a diff and then the changes).
    const changes = realized !== undefined && sameRules(realized, wanted) ? stateChanges(realized, wanted) : undefined;
    if (changes && changeCount(changes) === 0) {
      // Nothing to send, yet the contributions may have moved (a rename with the same source and egress IP): the
      // changelog's shortcut takes each mapping's old version from the last-good state, which must be this one.
      this.isolation.realized(effective);
      return "none";
    }
    // Until the kernel confirms the change, we do not claim to know what it holds.
    this.realized = undefined;
    this.changesMade++;
    let refusal: { error: string; cause: unknown };
    // Large differences go the full way: the echo of a huge batch overruns netlink buffers (ENOBUFS), and
    // past a few thousand elements one table replace costs no more than the changes through nft.
    if (changes && changeCount(changes) <= MAX_INCREMENTAL_ELEMENTS) {
      try {
        const { unconfirmed } = await this.table.update(changes, wanted);
        if (unconfirmed.length > 0) throw new AppError("apply-failed", `nft did not confirm ${unconfirmed.length} change(s), e.g. ${unconfirmed[0]}`);
        this.succeeded(wanted, effective);
        return "incremental";
      } catch (error) {
        // Only a refusal of the content is a tenant's doing: a full check of the same state tells which.
        const verdict = await this.check(wanted);
        if (verdict.ok) {
          // The state is fine, the batch was not: e.g. a DNS-derived element the kernel had already expired, whose
          // delete found nothing. The whole table, replaced in one transaction, gets there anyway, in this pass.
          this.log.warn({ err: error }, "an element batch failed although the state it leads to is valid; replacing the table instead");
          await this.applyFull(wanted, effective);
          return "full";
        }
        refusal = verdict;
      }
    } else {
      const refused = await this.table.apply(wanted).then(() => undefined, (error: unknown) => ({ error }));
      if (!refused) {
        await this.confirmFull(wanted, effective);
        return "full";
      }
      // Refused as a whole, so nothing changed. The same batch dry-run says whether its content is at fault;
      // if it passes, the failure was the moment's (e.g. a busy kernel), not a tenant's, and the pass fails.
      const verdict = await this.check(wanted);
      if (verdict.ok) throw refused.error;
      refusal = verdict;
    }
    const candidate = await this.isolation.isolate(desired, (c) => this.check(render(c)), refusal.error);
    // Not a tenant's doing (even the last good state is refused): the pass fails as a whole.
    if (!candidate) throw refusal.cause;
    await this.applyFull(render(candidate), candidate);
    return "full";
  }

  /**
   * The shortcut for a change of some mappings and their policies alone (no DNS name in those policies, no cluster
   * held back): their elements change in one transaction, without reading, rendering or walking the rest of the state
   * (at 100k mappings that walk, not the kernel, was most of the time until a change is live). Undefined when the
   * shortcut does not apply, or the batch failed: the caller then takes the full way, which also tells a tenant's
   * refused change (and isolates it) from a moment's failure. A batch the kernel refused changed nothing, so what was
   * realized stays.
   */
  async convergeMappings(changed: readonly ChangedMapping[]): Promise<"none" | "incremental" | undefined> {
    const realized = this.realized;
    if (!realized || this.isolation.isolated().length > 0) return undefined;
    // A call of its own to the compiler's cache: the old versions of changed policies age out as in full passes.
    this.policies.nextCall();
    const changes: MappingChange[] = [];
    const contributions = new Map<string, { mappings: Mapping[]; policies: MappingPolicyInput[] }>();
    for (const [cluster, items] of groupByCluster(changed)) {
      const now = new Map(items.map((item) => [item.name, item]));
      const good = this.isolation.realizedContribution(cluster);
      const goodPolicies = new Map((good?.policies ?? []).map((p) => [p.mapping, p]));
      const kept: Mapping[] = [];
      const added: Mapping[] = [];
      const before = new Map<string, Mapping>();
      for (const mapping of good?.mappings ?? []) {
        if (now.has(mapping.name)) before.set(mapping.name, mapping);
        else kept.push(mapping);
      }
      const policies = (good?.policies ?? []).filter((p) => !now.has(p.mapping));
      for (const item of items) {
        const old = before.get(item.name);
        const oldPolicy = goodPolicies.get(item.name);
        const newPolicy: MappingPolicyInput | undefined = item.now && item.policy
          ? { cluster, mapping: item.name, sourceCidr: item.now.sourceCidr, policy: item.policy } : undefined;
        const beforeSide = old && this.side(old, oldPolicy);
        const afterSide = item.now && this.side(item.now, newPolicy);
        if ((old && !beforeSide) || (item.now && !afterSide)) return undefined;
        changes.push({ before: beforeSide, after: afterSide });
        if (item.now) added.push(item.now);
        if (newPolicy) policies.push(newPolicy);
      }
      const mappings = mergeInStoreOrder(kept, added);
      contributions.set(cluster, { mappings, policies: policiesInMappingOrder(mappings, policies) });
    }
    const delta = mappingStateChanges(realized, changes);
    if (!delta || changeCount(delta) > MAX_INCREMENTAL_ELEMENTS) return undefined;
    if (changeCount(delta) > 0) {
      this.realized = undefined;
      this.changesMade++;
      applyStateChanges(realized, delta);
      try {
        const { unconfirmed } = await this.table.update(delta, realized);
        if (unconfirmed.length > 0) throw new AppError("apply-failed", `nft did not confirm ${unconfirmed.length} change(s), e.g. ${unconfirmed[0]}`);
      } catch (error) {
        if (error instanceof NetlinkRefusal) {
          applyStateChanges(realized, invertedChanges(delta));
          this.realized = realized;
        }
        this.log.info({ err: error }, "a change of mappings alone did not apply; taking the full way");
        return undefined;
      }
      this.realized = realized;
    }
    for (const [cluster, { mappings, policies }] of contributions) this.isolation.realizedMappingsChanged(cluster, mappings, policies);
    return changeCount(delta) > 0 ? "incremental" : "none";
  }

  /** A mapping with what its policy adds; undefined when the policy's elements are not for the shortcut (DNS names). */
  private side(mapping: Mapping, policy: MappingPolicyInput | undefined): MappingSide | undefined {
    if (!policy) return { mapping };
    const elements = this.policies.elementsOf(policy);
    return elements && { mapping, policy: elements };
  }

  private render(contributions: Contributions, egressIps: readonly string[], policy: PolicyContext): NftState {
    const { mappings, policies, guards } = flatten(contributions);
    const compiled = this.policies.compile({ policies, floors: policy.floors, clusterSources: policy.clusterSources, addressesOf: policy.addressesOf });
    return this.table.desired(mappings, egressIps, guards, compiled);
  }

  private async check(state: NftState): Promise<{ ok: true } | { ok: false; error: string; cause: unknown }> {
    try {
      await this.table.check(state);
      return { ok: true };
    } catch (error) {
      return { ok: false, error: errorMessage(error), cause: error };
    }
  }

  /** Replaces the table with `state` in one transaction and reads it back. */
  private async applyFull(state: NftState, contributions: Contributions): Promise<void> {
    await this.table.apply(state);
    await this.confirmFull(state, contributions);
  }

  /** Reads back a table just replaced with `state`: only a kernel that holds exactly that makes it realized. */
  private async confirmFull(state: NftState, contributions: Contributions): Promise<void> {
    const unconfirmed = (await this.table.differences(state)).map((d) => `${d.what}: ${d.detail}`);
    if (unconfirmed.length > 0) throw new AppError("apply-failed", `nft readback differs from what was applied: ${unconfirmed.join("; ")}`);
    this.succeeded(state, contributions);
  }

  private succeeded(state: NftState, contributions: Contributions): void {
    this.realized = state;
    this.isolation.realized(contributions);
  }
}

export const MAX_INCREMENTAL_ELEMENTS = 2_000;

/** A mapping that changed since the realized revision: as the store holds it now (undefined: gone) and the policy that governs it now. */
export interface ChangedMapping {
  cluster: string;
  name: string;
  now: Mapping | undefined;
  policy: EgressPolicy | undefined;
}

function groupByCluster<T extends { cluster: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.cluster);
    if (group) group.push(item);
    else groups.set(item.cluster, [item]);
  }
  return groups;
}
