import { parseAddress } from "../net/cidr.js";
import { emptySets, SET_NAMES, type NftState, type SetName } from "./state.js";

type Json = Record<string, unknown>;

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Canonical key text for one element key as nft lists it (prefix, bare address, MAC, range or concat). */
function keyText(expr: unknown): string {
  if (typeof expr === "string") return MAC.test(expr) ? expr.toLowerCase() : parseAddress(expr, "element").address;
  const e = expr as Json;
  if (e["prefix"]) {
    const prefix = e["prefix"] as { addr: string; len: number };
    return `${parseAddress(prefix.addr, "element").address}/${prefix.len}`;
  }
  if (e["concat"]) return (e["concat"] as unknown[]).map(keyText).join(" . ");
  if (e["range"]) {
    const [low, high] = e["range"] as [string, string];
    return `${parseAddress(low, "element").address}-${parseAddress(high, "element").address}`;
  }
  if (e["elem"]) return keyText((e["elem"] as Json)["val"]);
  return JSON.stringify(expr);
}

/** Interval sets list a single-address prefix (/32, /128) as a bare address: put the length back (not on MACs). */
function withHostLength(key: string, interval: boolean): string {
  if (!interval) return key;
  return key.split(" . ").map((part) => (part.includes("/") || part.includes("-") || MAC.test(part) ? part : `${part}/${part.includes(":") ? 128 : 32}`)).join(" . ");
}

/**
 * Parses `nft -j list table inet NAME` into our comparable form. Unknown objects are ignored, and so are
 * the contents of the dynamic sets the packet path fills (spoofed_*) and counter values: they change with
 * traffic, so they are never drift.
 */
export function parseTableListing(listing: unknown): NftState {
  const state: NftState = { sets: emptySets(), counters: new Set(), chains: {} };
  const items = ((listing as Json)["nftables"] ?? []) as Json[];
  for (const item of items) {
    const set = (item["set"] ?? item["map"]) as Json | undefined;
    if (set) {
      const name = set["name"] as string;
      if (!(SET_NAMES as readonly string[]).includes(name)) continue;
      const interval = ((set["flags"] as string[] | undefined) ?? []).includes("interval");
      const target = state.sets[name as SetName];
      for (const element of (set["elem"] as unknown[] | undefined) ?? []) {
        if (Array.isArray(element)) target.set(withHostLength(keyText(element[0]), interval), valueText(element[1]));
        else target.set(withHostLength(keyText(element), interval), "");
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
      continue;
    }
    const rule = item["rule"] as Json | undefined;
    if (rule) (state.chains[rule["chain"] as string] ??= []).push((rule["comment"] as string | undefined) ?? "(no comment)");
  }
  return state;
}

function valueText(value: unknown): string {
  if (typeof value === "string") return value.includes(".") || value.includes(":") ? parseAddress(value, "value").address : value;
  return JSON.stringify(value);
}
