import type { Mapping } from "../model.js";
import type { NetfilterTransactions } from "../system/netlink.js";
import type { CompiledPolicies } from "../policy/compile.js";
import type { ChainListing, NftClient } from "./nft-client.js";
import { encodeChanges } from "./netlink-elements.js";
import { chainSpecs, desiredNftState, renderChanges, renderFull, type RulesetOptions } from "./ruleset.js";
import { diffStates, type GuardInputs, type NftState, type StateChanges, type StateDifference } from "./state.js";

/**
 * Our one table, spoken to in states: callers hand over NftState and get back what the kernel did not
 * confirm; rendering nft's JSON and reading its listings stay here, behind the client.
 */
export class NftTable {
  /**
   * `netlink`: element changes go to the kernel as nf_tables messages over this socket instead of through nft (which
   * fetches every set first); it must act on the same network namespace as the client's nft. Without it, nft only.
   */
  constructor(private readonly nft: NftClient, private readonly options: RulesetOptions, private readonly netlink?: NetfilterTransactions) {}

  /** The state these mappings, egress IPs, guard inputs and compiled policies make of our table under its options. */
  desired(mappings: readonly Mapping[], egressIps: readonly string[], guards?: GuardInputs, policies?: CompiledPolicies): NftState {
    return desiredNftState(this.options, mappings, egressIps, guards, policies);
  }

  /** Dry run (`nft -c`) of replacing the table with `state`; throws what nft refused. */
  async check(state: NftState): Promise<void> {
    await this.nft.check(renderFull(this.options, state));
  }

  /**
   * Replaces the whole table in one transaction, without reading it back (see replace). Throws what nft
   * refused; the kernel then still holds what it held before.
   */
  async apply(state: NftState): Promise<void> {
    await this.nft.apply(renderFull(this.options, state));
  }

  /** Replaces the whole table in one transaction, then reads it back: what the kernel does not hold as sent. */
  async replace(state: NftState): Promise<{ unconfirmed: string[] }> {
    await this.apply(state);
    return { unconfirmed: (await this.differences(state)).map((d) => `${d.what}: ${d.detail}`) };
  }

  /**
   * Element and counter changes between two states with the same rules (see stateChanges), in one transaction:
   * what the kernel did not confirm. Over netlink, the kernel's acknowledgement of every message of the batch is
   * that confirmation (a refusal throws, and nothing was applied). Through nft (no socket, or a change netlink does
   * not encode yet: the whole batch then, never split over two transactions), nft's echo is compared with what was sent.
   */
  async update(changes: StateChanges, to: NftState): Promise<{ unconfirmed: string[] }> {
    const messages = this.netlink ? encodeChanges(this.options.table, changes, to) : undefined;
    if (!this.netlink || !messages) return this.nft.applyWithEcho(renderChanges(this.options, changes, to));
    this.netlink.commit(messages);
    return { unconfirmed: [] };
  }

  /** How the kernel's table differs from `state` (empty when it holds exactly that); a missing table is one difference. */
  async differences(state: NftState): Promise<StateDifference[]> {
    const actual = await this.nft.readTable(this.options.table);
    return actual ? diffStates(state, actual) : [{ what: "table", detail: "missing" }];
  }

  /**
   * The cheap check: only the base chains are listed (no set contents), which is enough to see a deleted
   * table or chain or a changed hook, priority or policy.
   */
  async chainDifferences(): Promise<StateDifference[]> {
    const live = await this.nft.readChains(this.options.table);
    if (!live) return [{ what: "table", detail: "missing" }];
    const text = (c: ChainListing) => `${c.name} ${c.hook} ${c.prio} ${c.policy}`;
    const wanted = chainSpecs(this.options).map(text).sort();
    const actual = live.map(text).sort();
    if (wanted.join("\n") === actual.join("\n")) return [];
    return [{ what: "chains", detail: `[${actual.join(", ")}], expected [${wanted.join(", ")}]` }];
  }
}
