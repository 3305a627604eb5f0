// Forged VRRPv3 adverts, as a hostile host on a LAN would send them, for tests that prove the gateways ignore
// them. The frames are built byte by byte (checksums included) and sent with trafgen (netsniff-ng), which writes
// raw frames: the sender can claim any source address, as an attacker can.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Netns } from "./netns.js";

export interface ForgedAdvert {
  sourceMac: string;
  destinationMac: string;
  sourceIp: string;
  destinationIp: string;
  virtualRouterId: number;
  priority: number;
  /** The addresses the advert claims (VRRPv3 for IPv4 carries IPv4 addresses). */
  addresses: string[];
  advertIntervalCentiseconds?: number;
}

const octets = (ip: string): number[] => ip.split(".").map(Number);
const macBytes = (mac: string): number[] => mac.split(":").map((h) => Number.parseInt(h, 16));

/** The Internet checksum (RFC 1071) of `bytes`. */
function checksum(bytes: number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += ((bytes[i] ?? 0) << 8) + (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** One Ethernet frame carrying a VRRPv3 advertisement (RFC 5798 §5.1; TTL 255 as the RFC requires). */
export function vrrpAdvertFrame(advert: ForgedAdvert): number[] {
  const interval = advert.advertIntervalCentiseconds ?? 20;
  const vrrp = [0x31, advert.virtualRouterId, advert.priority, advert.addresses.length, (interval >> 8) & 0x0f, interval & 0xff, 0, 0,
    ...advert.addresses.flatMap(octets)];
  const pseudo = [...octets(advert.sourceIp), ...octets(advert.destinationIp), 0, 112, (vrrp.length >> 8) & 0xff, vrrp.length & 0xff];
  const vrrpSum = checksum([...pseudo, ...vrrp]);
  vrrp[6] = vrrpSum >> 8;
  vrrp[7] = vrrpSum & 0xff;
  const totalLength = 20 + vrrp.length;
  const ip = [0x45, 0xc0, totalLength >> 8, totalLength & 0xff, 0, 0, 0, 0, 255, 112, 0, 0, ...octets(advert.sourceIp), ...octets(advert.destinationIp)];
  const ipSum = checksum(ip);
  ip[10] = ipSum >> 8;
  ip[11] = ipSum & 0xff;
  return [...macBytes(advert.destinationMac), ...macBytes(advert.sourceMac), 0x08, 0x00, ...ip, ...vrrp];
}

/** The multicast MAC VRRP for IPv4 uses (224.0.0.18). */
export const VRRP_MULTICAST = { ip: "224.0.0.18", mac: "01:00:5e:00:00:12" } as const;

/** Sends `count` rounds of the adverts out of `device` in `ns`, `gapMs` apart, and waits until trafgen is done. */
export async function sendForgedAdverts(ns: Netns, device: string, adverts: ForgedAdvert[], count: number, gapMs: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "egw-vrrp-forge-"));
  try {
    const config = join(dir, "adverts.cfg");
    writeFileSync(config, adverts.map((a) => `{ ${vrrpAdvertFrame(a).map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(", ")} }`).join("\n") + "\n");
    await ns.exec("trafgen", ["--dev", device, "--in", config, "--num", String(count * adverts.length), "--gap", `${gapMs}ms`, "--cpus", "1", "--no-cpu-stats", "--qdisc-path"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
