import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";
import ipaddr from "ipaddr.js";

/**
 * The key a client's failed authentications are counted under: its IPv4 address, its IPv6 /64 (one host
 * usually holds a whole /64, so counting single addresses would let it rotate freely), or "unix" for the
 * local socket, whose peers have no address.
 */
export function clientKey(c: Context): string {
  let address: string | undefined;
  try {
    address = getConnInfo(c).remote.address;
  } catch {
    // No Node socket behind the request (the unix socket's peer has none; in-process requests neither).
    address = undefined;
  }
  return address ? addressKey(address) : "unix";
}

/** Recent clients' keys: parsing an address costs more than the rest of a request's logging; bounded, it starts over when full. */
const recentKeys = new Map<string, string>();
const MAX_RECENT_KEYS = 1_024;

export function addressKey(address: string): string {
  const known = recentKeys.get(address);
  if (known !== undefined) return known;
  const key = keyOf(address);
  if (recentKeys.size >= MAX_RECENT_KEYS) recentKeys.clear();
  recentKeys.set(address, key);
  return key;
}

function keyOf(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === "ipv4") return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `${ipaddr.IPv6.parse(`${parts.map((p) => p.toString(16)).join(":")}::`).toRFC5952String()}/64`;
}
