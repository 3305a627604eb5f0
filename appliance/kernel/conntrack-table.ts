import { AppError } from "../errors.js";
import { parseAddress } from "../net/cidr.js";
import type { CommandRunner } from "../system/runner.js";
import type { TranslationRecord } from "../translation-model.js";

/** One source-NAT translation as conntrack's table lists it: enough to recognise the log's record of it. */
export type TranslatedConnection = Pick<TranslationRecord, "podAddress" | "podPort" | "destinationAddress" | "destinationPort" | "egressAddress" | "egressPort">
  & { protocol: string };

const PORTLESS = new Set(["icmp", "icmpv6"]);

/** The same text for the log's record and the kernel's entry of one connection (ICMP: ports 0, as the log has them). */
export function translationKey(c: TranslatedConnection): string {
  const ports = PORTLESS.has(c.protocol) ? [0, 0, 0] : [c.podPort, c.destinationPort, c.egressPort];
  return `${c.protocol}|${c.podAddress}|${ports[0]}|${c.destinationAddress}|${ports[1]}|${c.egressAddress}|${ports[2]}`;
}

/**
 * Parses `conntrack -L -o extended --src-nat`: per line the layer-3 and layer-4 names, then the original tuple
 * (src, dst, sport, dport) and the reply tuple, whose dst and dport are the egress IP and port the NAT chose.
 */
export function parseTranslatedConnections(text: string): TranslatedConnection[] {
  const connections: TranslatedConnection[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("conntrack v")) continue;
    const tokens = line.trim().split(/\s+/);
    const protocol = tokens[2];
    const values = (name: string) => tokens.filter((t) => t.startsWith(`${name}=`)).map((t) => t.slice(name.length + 1));
    const [src, replySrc] = values("src");
    const [dst, replyDst] = values("dst");
    const [sport] = values("sport");
    const [dport, replyDport] = values("dport");
    if (protocol === undefined || src === undefined || dst === undefined || replySrc === undefined || replyDst === undefined) {
      throw new AppError("command-failed", `conntrack -L printed a line without two tuples: ${JSON.stringify(line.slice(0, 200))}`);
    }
    const portless = PORTLESS.has(protocol);
    connections.push({
      protocol,
      podAddress: parseAddress(src, "src").address,
      podPort: portless ? 0 : Number(sport ?? 0),
      destinationAddress: parseAddress(dst, "dst").address,
      destinationPort: portless ? 0 : Number(dport ?? 0),
      egressAddress: parseAddress(replyDst, "dst").address,
      egressPort: portless ? 0 : Number(replyDport ?? 0),
    });
  }
  return connections;
}

/** The translations the kernel holds now (a netlink dump through `conntrack`, source-NATed entries only). */
export async function readTranslatedConnections(runner: CommandRunner): Promise<Set<string>> {
  const result = await runner.run("conntrack", ["-L", "-o", "extended", "--src-nat"], { timeoutMs: 60_000 });
  return new Set(parseTranslatedConnections(result.stdout).map(translationKey));
}
