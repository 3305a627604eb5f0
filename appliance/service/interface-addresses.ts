import { listAddresses } from "../kernel/addresses.js";
import type { CommandRunner } from "../system/runner.js";
import { parseAddress } from "../net/cidr.js";
import type { OwnAddresses } from "./own-addresses.js";

/**
 * The gateway's own addresses as the kernel reports them, minus the egress IPs the daemon itself put
 * there, plus the configured reserved addresses. Refreshed asynchronously; checked synchronously inside
 * store transactions.
 */
export class InterfaceOwnAddresses implements OwnAddresses {
  private found = new Set<string>();
  private readonly reserved: Set<string>;

  constructor(private readonly runner: CommandRunner, reserved: string[], private readonly ownedByUs: () => string[]) {
    this.reserved = new Set(reserved.map((text, i) => parseAddress(text, `network.reservedAddresses.${i}`).address));
  }

  async refresh(): Promise<void> {
    const ours = new Set(this.ownedByUs());
    this.found = new Set((await listAddresses(this.runner)).map((a) => a.address).filter((a) => !ours.has(a)));
  }

  isOwn(address: string): boolean {
    return this.reserved.has(address) || this.found.has(address);
  }
}
