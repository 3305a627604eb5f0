import { parseAddress } from "../net/cidr.js";
import type { PlaneElement, PolicySetName } from "../policy/compile.js";

export interface PolicySetSpec {
  type: string | string[];
  map: "counter" | "verdict";
  flags: string[];
}

const FLOOR = (family: "ipv4_addr" | "ipv6_addr"): PolicySetSpec => ({ type: [family, "inet_proto", "inet_service"], map: "counter", flags: ["interval"] });
const SOURCED = (family: "ipv4_addr" | "ipv6_addr", flags: string[]): PolicySetSpec => ({ type: [family, family, "inet_proto", "inet_service"], map: "counter", flags });

export const POLICY_SET_SPECS: Record<PolicySetName, PolicySetSpec> = {
  floor_v4: FLOOR("ipv4_addr"),
  floor_v6: FLOOR("ipv6_addr"),
  cluster_floor_v4: SOURCED("ipv4_addr", ["interval"]),
  cluster_floor_v6: SOURCED("ipv6_addr", ["interval"]),
  policy_allow_v4: SOURCED("ipv4_addr", ["interval", "timeout"]),
  policy_allow_v6: SOURCED("ipv6_addr", ["interval", "timeout"]),
  policy_unmatched_v4: { type: "ipv4_addr", map: "counter", flags: ["interval"] },
  policy_unmatched_v6: { type: "ipv6_addr", map: "counter", flags: ["interval"] },
  policy_verdict_v4: { type: "ipv4_addr", map: "verdict", flags: ["interval"] },
  policy_verdict_v6: { type: "ipv6_addr", map: "verdict", flags: ["interval"] },
};

/** One key part as nft JSON: `net/len` → prefix, `lo-hi` → range, else the address or number itself. */
function partJson(part: string, type: string): unknown {
  const address = type === "ipv4_addr" || type === "ipv6_addr";
  const slash = part.indexOf("/");
  if (address && slash >= 0) return { prefix: { addr: part.slice(0, slash), len: Number(part.slice(slash + 1)) } };
  // IPv6 text has no "-", so the first one splits a range of either kind.
  const dash = part.indexOf("-");
  if (dash >= 0) {
    const [lo, hi] = [part.slice(0, dash), part.slice(dash + 1)];
    return { range: address ? [parseAddress(lo, "key").address, parseAddress(hi, "key").address] : [Number(lo), Number(hi)] };
  }
  return address ? part : Number(part);
}

/**
 * The nft JSON of one compiled element (for an `add element` command): the key's parts by the set's type, the
 * value, and for a DNS-derived element a timeout that outlives the answer by `graceMs` (at least a second), so the
 * kernel drops it by itself should the daemon stop refreshing it.
 */
export function policyElementJson(set: PolicySetName, key: string, element: PlaneElement, nowMs: number, graceMs: number): unknown {
  const spec = POLICY_SET_SPECS[set];
  const types = Array.isArray(spec.type) ? spec.type : [spec.type];
  const parts = key.split(" . ").map((part, i) => partJson(part, types[i] as string));
  const val = parts.length === 1 ? parts[0] : { concat: parts };
  const value = spec.map === "verdict" ? JSON.parse(element.value) as unknown : element.value;
  if (element.expiresAt === undefined) return [val, value];
  return [{ elem: { val, timeout: kernelTimeoutSeconds(element.expiresAt, nowMs, graceMs) } }, value];
}

/** The timeout (whole seconds, at least one) an element expiring at `expiresAt` is given in the kernel: `graceMs` later. */
export function kernelTimeoutSeconds(expiresAt: number, nowMs: number, graceMs: number): number {
  return Math.max(1, Math.ceil((expiresAt + graceMs - nowMs) / 1000));
}
