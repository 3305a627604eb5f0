import type { CommandRunner } from "../system/runner.js";
import { hostPrefixLength, parseAddress } from "../net/cidr.js";

export interface InterfaceAddress {
  interface: string;
  address: string;
  prefixLength: number;
}

/** Lists every address on every interface of this network namespace. */
export async function listAddresses(runner: CommandRunner): Promise<InterfaceAddress[]> {
  const result = await runner.run("ip", ["-j", "address", "show"]);
  const links = JSON.parse(result.stdout || "[]") as { ifname: string; addr_info?: { local?: string; prefixlen: number }[] }[];
  const addresses: InterfaceAddress[] = [];
  for (const link of links) {
    for (const info of link.addr_info ?? []) {
      if (!info.local) continue;
      addresses.push({ interface: link.ifname, address: parseAddress(info.local, "local").address, prefixLength: info.prefixlen });
    }
  }
  return addresses;
}

/**
 * Egress IPs on the outside interface in single-gateway mode (in HA mode keepalived owns them). The
 * ledger of addresses we added lives in the store, so we only ever remove addresses we put there.
 */
export class EgressAddressManager {
  constructor(private readonly runner: CommandRunner, readonly outsideInterface: string) {}

  async present(): Promise<Set<string>> {
    const all = await listAddresses(this.runner);
    return new Set(all.filter((a) => a.interface === this.outsideInterface).map((a) => a.address));
  }

  async add(address: string): Promise<void> {
    const v6 = address.includes(":");
    const args = ["address", "add", `${address}/${hostPrefixLength(address)}`, "dev", this.outsideInterface];
    // Duplicate address detection would hold an IPv6 egress IP unusable for a second or more.
    if (v6) args.push("nodad");
    await this.runner.run("ip", args, { okExitCodes: [2] });
  }

  async remove(address: string): Promise<void> {
    await this.runner.run("ip", ["address", "del", `${address}/${hostPrefixLength(address)}`, "dev", this.outsideInterface], { okExitCodes: [2] });
  }
}
