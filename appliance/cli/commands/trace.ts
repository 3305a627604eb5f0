import { unwrap, type paths } from "../../../client/src/index.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect, numberParam } from "../connection.js";
import { parseCommandArgs, UsageError, type CliIo } from "../../terminal/io.js";
import { escapeControl, printJson, table } from "../../terminal/output.js";

export const TRACE_USAGE = `usage:
  egw trace EGRESS_IP[:PORT] [--at TIME] [--protocol P] [--json]
  egw trace --pod ADDRESS [--at TIME | --from TIME --to TIME] [--json]
  egw trace --destination ADDRESS[:PORT] [--at TIME | --from TIME --to TIME] [--json]
  Answers a firewall's question "which pod was 203.0.113.10:40123 at 12:03:55?" from the translation log of this
  gateway and its peer: the cluster, the mapping, the pod's address and port, the destination, and when the
  connection began and ended on each gateway that saw it. TIME is RFC 3339 with a zone (2026-12-02T12:03:55Z);
  without --at and a range, the question is about now. IPv6 with a port: [2001:db8::10]:40123.
  --protocol tcp|udp|icmp|icmpv6|sctp   only this protocol
  --limit N                             at most N records (default 100; the API pages beyond)
  A range is at most 24 hours. A gap in a gateway's log that overlaps the question is reported: an empty answer
  within a gap proves nothing.

${CONNECTION_USAGE}`;

export const OPTIONS = {
  ...CONNECTION_OPTIONS,
  at: { type: "string" }, from: { type: "string" }, to: { type: "string" },
  pod: { type: "string" }, destination: { type: "string" }, protocol: { type: "string" }, limit: { type: "string" },
} as const;

type TraceQuery = NonNullable<paths["/v1/translations"]["get"]["parameters"]["query"]>;
interface Endpoint { address: string; port: number }
export interface TraceRecord {
  gateway: string; cluster: string; mapping: string; protocol: string;
  pod: Endpoint; destination: Endpoint; egress: Endpoint;
  start: string; end: string | null; endReason: string | null;
}
export interface TraceAnswer {
  translations: TraceRecord[];
  gaps: { gateway: string; from: string; to: string | null; reason: string }[];
  unanswered: { gateway: string; reason: string }[];
  nextCursor?: string;
}

/** ADDRESS, ADDRESS:PORT or [IPv6]:PORT; a bare IPv6 address has colons of its own and no port. */
export function splitEndpoint(text: string, what: string): { address: string; port?: string } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { address: bracketed[1] as string, ...(bracketed[2] === undefined ? {} : { port: bracketed[2] }) };
  const colons = text.split(":").length - 1;
  if (colons === 1) {
    const [address = "", port = ""] = text.split(":");
    return { address, port };
  }
  if (colons === 0 || !text.includes("]")) return { address: text };
  throw new UsageError(`${what} ${JSON.stringify(text)}: write an IPv6 address with a port as [ADDRESS]:PORT`, TRACE_USAGE);
}

const endpointText = (e: Endpoint) => (e.address.includes(":") ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`);

/** One row per record; a connection that moved with a failover shows once per gateway that logged it. */
export function formatTrace(answer: TraceAnswer): string {
  const rows = answer.translations.map((r) => [
    r.cluster, r.mapping, r.protocol, endpointText(r.pod), endpointText(r.destination), endpointText(r.egress),
    r.start, r.end ?? "(open)", r.gateway,
  ]);
  let text = answer.translations.length === 0
    ? "no translation matches\n"
    : table(["CLUSTER", "MAPPING", "PROTO", "POD", "DESTINATION", "EGRESS", "START", "END", "GATEWAY"], rows);
  for (const r of answer.translations.filter((record) => record.endReason === "gateway-restarted")) {
    text += `note: ${escapeControl(r.gateway)} restarted before the kernel reported the end of ${endpointText(r.egress)}; END is when its log started again (an upper bound)\n`;
  }
  for (const r of answer.translations.filter((record) => record.endReason === "log-interrupted")) {
    text += `note: the log of ${escapeControl(r.gateway)} was not listening when ${endpointText(r.egress)} ended; END is when it noticed (an upper bound)\n`;
  }
  for (const gap of answer.gaps) {
    text += `warning: the log of ${escapeControl(gap.gateway)} was not recording from ${gap.from} to ${gap.to ?? "now"} (${gap.reason}): connections in that time may be missing\n`;
  }
  for (const u of answer.unanswered) text += `warning: gateway ${escapeControl(u.gateway)} could not be asked (${escapeControl(u.reason)}): its records are missing\n`;
  if (answer.nextCursor !== undefined) text += "(more records: narrow the question, or use --limit, or the API's nextCursor)\n";
  return text;
}

export async function traceCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, TRACE_USAGE);
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`, TRACE_USAGE);
  const query: TraceQuery = {};
  const [target] = positionals;
  if (target !== undefined) {
    const { address, port } = splitEndpoint(target, "EGRESS_IP");
    query.egressIp = address;
    if (port !== undefined) query.egressPort = numberParam(port);
  }
  if (values.pod !== undefined) query.podIp = values.pod;
  if (values.destination !== undefined) {
    const { address, port } = splitEndpoint(values.destination, "--destination");
    query.destinationIp = address;
    if (port !== undefined) query.destinationPort = numberParam(port);
  }
  if (target === undefined && values.pod === undefined && values.destination === undefined) {
    throw new UsageError("give EGRESS_IP[:PORT], --pod or --destination", TRACE_USAGE);
  }
  if (values.from !== undefined || values.to !== undefined) {
    if (values.at !== undefined) throw new UsageError("give either --at or --from and --to", TRACE_USAGE);
    if (values.from !== undefined) query.from = values.from;
    if (values.to !== undefined) query.to = values.to;
  } else {
    query.at = values.at ?? new Date().toISOString();
  }
  if (values.protocol !== undefined) query.protocol = values.protocol as TraceQuery["protocol"];
  if (values.limit !== undefined) query.limit = numberParam(values.limit);
  const answer = await unwrap(connect(values, io.env).GET("/v1/translations", { params: { query } }));
  if (values.json) printJson(io, answer);
  else io.stdout(formatTrace(answer));
  return 0;
}
