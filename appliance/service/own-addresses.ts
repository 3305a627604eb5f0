/**
 * Knows which addresses belong to the gateway itself (its interfaces, its peers, its VIPs), so an admin
 * can never hand one out as an egress IP or use one as a route's next hop.
 */
export interface OwnAddresses {
  isOwn(address: string): boolean;
  /** Whether the address is on-link on the inside interface; undefined when that is not known. */
  onInsideNetwork?(address: string): boolean | undefined;
}

export class StaticOwnAddresses implements OwnAddresses {
  private readonly addresses: Set<string>;
  constructor(addresses: Iterable<string>) {
    this.addresses = new Set(addresses);
  }
  isOwn(address: string): boolean {
    return this.addresses.has(address);
  }
}
