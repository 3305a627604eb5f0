import { unwrap } from "../../../client/src/index.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect } from "../connection.js";
import { parseCommandArgs, positionals, type CliIo } from "../../terminal/io.js";
import { fields, printJson, table } from "../../terminal/output.js";

export const STATUS_USAGE = `usage: egw status [--json]
  This gateway's role, store revision, applied revision, last data-plane apply, peers and warnings.

${CONNECTION_USAGE}`;

export const HANDOVER_USAGE = `usage: egw handover [--json]
  Graceful switchover: the VRRP master hands its VIPs and egress IPs to a backup (sent to a backup,
  the request is forwarded to the master). Established connections survive (conntrackd).

${CONNECTION_USAGE}`;

interface ApplyReport {
  revision: number; ok: boolean; at: string; durationMs: number; kind: string; error?: string;
  isolated?: { cluster: string; error: string }[]; unresolvedNextHops?: string[];
}
interface PeerState { name: string; role: string; appliedRevision: number; inSync: boolean; replication?: string }
export interface SystemStatus {
  gateway: string;
  role: string;
  version: string;
  revision: number;
  appliedRevision: number;
  inSync: boolean;
  lastApply: ApplyReport | null;
  peers: PeerState[];
  warnings: string[];
}

export function formatApply(report: ApplyReport | null): string {
  if (!report) return "not yet";
  const head = `${report.ok ? "ok" : "FAILED"}, revision ${report.revision}, ${report.kind}, ${Math.round(report.durationMs)} ms, at ${report.at}`;
  // Held-back clusters and unresolved next hops are worth a line even on success: their traffic is affected.
  const held = (report.isolated ?? []).map((i) => `; cluster ${i.cluster} HELD BACK (its last good state stays): ${i.error}`).join("");
  const unresolved = report.unresolvedNextHops?.length ? `; next hops not resolved yet (their pods are dropped): ${report.unresolvedNextHops.join(", ")}` : "";
  return report.ok ? `${head}${held}${unresolved}` : `${head}: ${report.error ?? "unknown error"}${held}`;
}

export function formatStatus(status: SystemStatus): string {
  const sync = status.inSync ? "in sync" : `NOT in sync: applied ${status.appliedRevision}`;
  let text = fields([
    ["gateway", status.gateway],
    ["role", status.role],
    ["version", status.version],
    ["revision", `${status.revision} (${sync})`],
    ["last apply", formatApply(status.lastApply)],
    ["warnings", status.warnings.length === 0 ? "none" : status.warnings],
  ]);
  if (status.peers.length > 0) {
    text += `\n${table(["PEER", "APPLIED", "IN SYNC", "REPLICATION"],
      status.peers.map((p) => [p.name, String(p.appliedRevision), p.inSync ? "yes" : "no", p.replication ?? "-"]))}`;
  }
  return text;
}

export async function statusCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(args, CONNECTION_OPTIONS, STATUS_USAGE);
  positionals(rest, [], STATUS_USAGE);
  const status = await unwrap(connect(values, io.env).GET("/v1/status"));
  if (values.json) printJson(io, status);
  else io.stdout(formatStatus(status));
  return 0;
}

export async function handoverCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(args, CONNECTION_OPTIONS, HANDOVER_USAGE);
  positionals(rest, [], HANDOVER_USAGE);
  const result = await unwrap(connect(values, io.env).POST("/v1/ha/handover"));
  if (values.json) printJson(io, result);
  else io.stdout(`${result.from} handed mastership over and is now ${result.role}\n`);
  return 0;
}
