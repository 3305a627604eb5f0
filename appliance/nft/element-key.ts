import { hostPrefixLength, parseAddress } from "../net/cidr.js";

type Json = Record<string, unknown>;

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/**
 * One set element's key as comparable text, however nft spells it: a prefix, a bare address, a MAC, a range,
 * a concatenation (parts joined with " . ", as nft prints them), or any of these wrapped with statements
 * (`{elem: {val, counter}}`). Addresses come out canonical (RFC 5952) and MACs in lower case.
 *
 * `hostLength`: interval sets list a single-address prefix (/32, /128) as a bare address, so for them a bare
 * address gets its host length back (never a MAC). Plain sets keep bare addresses bare.
 */
export function elementKey(expr: unknown, hostLength: boolean): string {
  const key = keyText(expr);
  if (!hostLength) return key;
  return key.split(" . ").map((part) => (part.includes("/") || part.includes("-") || MAC.test(part) ? part : `${part}/${hostPrefixLength(part)}`)).join(" . ");
}

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
