import { canonicalAddress, elementKey, type SetType } from "./element-key.js";
import { ruleForm } from "./rule-form.js";
import { emptySets, SET_NAMES, type NftState, type SetName } from "./state.js";

type Json = Record<string, unknown>;

/**
 * Parses `nft -j list table inet NAME` into our comparable form. Unknown objects are ignored, and so are
 * the contents of the dynamic sets the packet path fills (spoofed_*) and counter values: they change with
 * traffic, so they are never drift.
 */
export function parseTableListing(listing: unknown): NftState {
  const state: NftState = { sets: emptySets(), counters: new Set(), chains: {}, ruleForms: {} };
  const items = ((listing as Json)["nftables"] ?? []) as Json[];
  for (const item of items) {
    const set = (item["set"] ?? item["map"]) as Json | undefined;
    if (set) {
      const name = set["name"] as string;
      if (!(SET_NAMES as readonly string[]).includes(name)) continue;
      const interval = ((set["flags"] as string[] | undefined) ?? []).includes("interval");
      const target = state.sets[name as SetName];
      const type = set["type"] as SetType | undefined;
      for (const element of (set["elem"] as unknown[] | undefined) ?? []) {
        if (Array.isArray(element)) target.set(elementKey(element[0], interval, type), valueText(element[1]));
        else target.set(elementKey(element, interval, type), "");
      }
      continue;
    }
    const counter = item["counter"] as Json | undefined;
    if (counter) {
      state.counters.add(counter["name"] as string);
      continue;
    }
    const chain = item["chain"] as Json | undefined;
    if (chain) {
      state.chains[chain["name"] as string] ??= [];
      state.ruleForms[chain["name"] as string] ??= [];
      continue;
    }
    const rule = item["rule"] as Json | undefined;
    if (rule) {
      (state.chains[rule["chain"] as string] ??= []).push((rule["comment"] as string | undefined) ?? "(no comment)");
      (state.ruleForms[rule["chain"] as string] ??= []).push(ruleForm(rule["expr"] as unknown[] | undefined));
    }
  }
  return state;
}

function valueText(value: unknown): string {
  if (typeof value === "string") return value.includes(".") || value.includes(":") ? canonicalAddress(value, "value") : value;
  return JSON.stringify(value);
}
