import { unwrap } from "../../../client/src/index.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect } from "../connection.js";
import { parseCommandArgs, UsageError, type CliIo } from "../../terminal/io.js";
import { printJson, table } from "../../terminal/output.js";

export const PORTS_USAGE = `usage: egw ports [EGRESS_IP] [--top N] [--json]
  Source ports each egress IP has in use towards its busiest destinations (address, port, protocol). The kernel's
  NAT has 64,512 source ports (1024-65535) per egress IP and destination; new connections to a destination start
  failing as they run out. Without EGRESS_IP: every egress IP this token may use. --top N: destinations per
  egress IP (default 10, at most 100). Counted by this gateway from its translation log.

${CONNECTION_USAGE}`;

export const OPTIONS = { ...CONNECTION_OPTIONS, top: { type: "string" } } as const;

export interface DestinationUsage {
  destinationAddress: string; destinationPort: number; protocol: string; inUse: number; available: number; utilization: number;
}
export interface EgressPortUsage {
  egressAddress: string; available: number; destinations: number; maxUtilization: number; busiest: DestinationUsage[];
}

/** 81.2 %, with a small share shown as more than zero so that a busy list never reads 0.0 % everywhere. */
export function percent(ratio: number): string {
  if (ratio > 0 && ratio < 0.001) return "<0.1 %";
  return `${(ratio * 100).toFixed(1)} %`;
}

function destination(d: DestinationUsage): string {
  if (d.protocol === "icmp" || d.protocol === "icmpv6") return d.destinationAddress;
  return d.destinationAddress.includes(":") ? `[${d.destinationAddress}]:${d.destinationPort}` : `${d.destinationAddress}:${d.destinationPort}`;
}

export function formatPortUsage(usage: EgressPortUsage): string {
  const head = usage.destinations === 0
    ? `egress IP ${usage.egressAddress}: no open connections\n`
    : `egress IP ${usage.egressAddress}: ${usage.destinations} destination${usage.destinations === 1 ? "" : "s"}, busiest at ${percent(usage.maxUtilization)}\n`;
  if (usage.busiest.length === 0) return head;
  return head + table(["DESTINATION", "PROTOCOL", "IN USE", "AVAILABLE", "HEADROOM", "UTILIZATION"], usage.busiest.map((d) => [
    destination(d), d.protocol, String(d.inUse), String(d.available), String(Math.max(0, d.available - d.inUse)), percent(d.utilization),
  ]));
}

export async function portsCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs(args, OPTIONS, PORTS_USAGE);
  if (pos.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(pos[1])}`, PORTS_USAGE);
  let top: number | undefined;
  if (values.top !== undefined) {
    if (!/^\d+$/.test(values.top) || Number(values.top) < 1 || Number(values.top) > 100) {
      throw new UsageError(`--top must be a whole number from 1 to 100, not ${JSON.stringify(values.top)}`, PORTS_USAGE);
    }
    top = Number(values.top);
  }
  const client = connect(values, io.env);
  const [address] = pos;
  if (address !== undefined) {
    const usage = await unwrap(client.GET("/v1/egress-ips/{address}/ports", { params: { path: { address }, query: { top } } }));
    if (values.json) printJson(io, usage);
    else io.stdout(formatPortUsage(usage));
    return 0;
  }
  // One request for all: GET /v1/ports answers for every egress IP this token may use (a cluster token cannot list them).
  const { egressIps } = await unwrap(client.GET("/v1/ports", { params: { query: { top } } }));
  if (values.json) printJson(io, { egressIps });
  else io.stdout(egressIps.length === 0 ? "no egress IPs\n" : egressIps.map(formatPortUsage).join("\n"));
  return 0;
}
