import type { InterfaceAddress } from "../kernel/addresses.js";
import { hostPrefixLength, networkOf, parseAddress, prefixContainsAddress, type Prefix } from "../net/cidr.js";
import { subnetAddressProblem, type OwnAddresses } from "./own-addresses.js";

/**
 * The gateway's own addresses as the kernel reports them, minus the egress IPs the daemon itself put
 * there, plus the configured reserved addresses. Refreshed asynchronously; checked synchronously inside
 * store transactions. Reading the interfaces is the kernel module's job (kernel/addresses.ts): this only
 * decides which of them count as the gateway's own.
 */
export class InterfaceOwnAddresses implements OwnAddresses {
  private found = new Set<string>();
  private insidePrefixes: Prefix[] = [];
  private readonly reserved: Set<string>;

  constructor(
    private readonly listAddresses: () => Promise<InterfaceAddress[]>,
    reserved: string[],
    private readonly ownedByUs: () => string[],
    private readonly insideInterface: string,
  ) {
    this.reserved = new Set(reserved.map((text, i) => parseAddress(text, `network.reservedAddresses.${i}`).address));
  }

  async refresh(): Promise<void> {
    const ours = new Set(this.ownedByUs());
    const all = await this.listAddresses();
    this.found = new Set(all.map((a) => a.address).filter((a) => !ours.has(a)));
    this.insidePrefixes = all
      .filter((a) => a.interface === this.insideInterface && a.prefixLength < hostPrefixLength(a.address))
      .map((a) => networkOf(a.address, a.prefixLength));
  }

  insideSubnetAddress(address: string): string | undefined {
    return subnetAddressProblem(this.insidePrefixes, address);
  }

  onInsideNetwork(address: string): boolean | undefined {
    if (this.insidePrefixes.length === 0) return undefined;
    const parsed = parseAddress(address, "address");
    return this.insidePrefixes.some((prefix) => prefixContainsAddress(prefix, parsed));
  }

  isOwn(address: string): boolean {
    return this.reserved.has(address) || this.found.has(address);
  }
}

