import { hostPrefixLength, parseAddress, parsePrefix, prefixContainsAddress, type Prefix } from "../net/cidr.js";

/**
 * Knows which addresses belong to the gateway itself (its interfaces, its peers, its VIPs), so an admin
 * can never hand one out as an egress IP or use one as a route's next hop.
 */
export interface OwnAddresses {
  isOwn(address: string): boolean;
  /** Whether the address is on-link on the inside interface; undefined when that is not known. */
  onInsideNetwork?(address: string): boolean | undefined;
  /** Why an address on the inside network is no host there (its subnet or broadcast address), if it is not. */
  insideSubnetAddress?(address: string): string | undefined;
}

/** A fixed list (tests, and the store-invariant checker); with `insideSubnets`, it knows the inside network too. */
export class StaticOwnAddresses implements OwnAddresses {
  private readonly addresses: Set<string>;
  private readonly subnets: Prefix[];
  constructor(addresses: Iterable<string>, insideSubnets: readonly string[] = []) {
    this.addresses = new Set(addresses);
    this.subnets = insideSubnets.map((cidr, i) => parsePrefix(cidr, `insideSubnets.${i}`));
  }
  isOwn(address: string): boolean {
    return this.addresses.has(address);
  }
  insideSubnetAddress(address: string): string | undefined {
    return subnetAddressProblem(this.subnets, address);
  }
}

/**
 * Why `address` cannot be a host on one of `subnets` although it lies in it: the subnet's own address or, for
 * IPv4, its broadcast address. The kernel refuses a route via either ("Nexthop has invalid gateway"), and one
 * such route used to fail every pass, every tenant's.
 */
export function subnetAddressProblem(subnets: readonly Prefix[], address: string): string | undefined {
  const parsed = parseAddress(address, "address");
  for (const prefix of subnets) {
    if (prefix.family !== parsed.family || !prefixContainsAddress(prefix, parsed)) continue;
    const hostBits = hostPrefixLength(prefix.network) - prefix.length;
    if (hostBits < 2) continue;
    if (parsed.value === prefix.start) return `is the address of the inside subnet ${prefix.cidr}, not a host`;
    if (prefix.family === 4 && parsed.value === prefix.end) return `is the broadcast address of the inside subnet ${prefix.cidr}`;
  }
  return undefined;
}
