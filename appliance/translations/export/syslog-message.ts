import type { TranslationRecord } from "../../translation-model.js";
import { rfc3339, type TranslationEvent } from "./record-json.js";

/**
 * RFC 5424 messages for the translation log. The structured data's SD-ID must be a registered IETF name or
 * name@<IANA private enterprise number>. The project has no enterprise number of its own yet, so it uses 32473,
 * the number RFC 5612 reserves for documentation and examples; a collector's rules match on the whole SD-ID, so
 * a real number later is a visible, documented change of this one constant.
 */
export const TRANSLATION_SD_ID = "translation@32473";

/** Severity 6, informational: a record of normal operation, never an alarm. */
const SEVERITY_INFORMATIONAL = 6;

export interface SyslogHeader {
  /** 0–23 (16 = local0). */
  facility: number;
  /** HOSTNAME: this gateway's name. */
  hostname: string;
  /** APP-NAME (the schema keeps it 1–48 printable ASCII characters). */
  appName: string;
}

/** SYSLOG-MSG of RFC 5424 (§6), without any transport framing. TIMESTAMP is the event's time: start or end. */
export function translationSyslogMessage(header: SyslogHeader, event: TranslationEvent, record: TranslationRecord): string {
  const pri = header.facility * 8 + SEVERITY_INFORMATIONAL;
  const atMs = event === "close" && record.endMs !== null ? record.endMs : record.startMs;
  const msgId = event === "open" ? "translation-open" : "translation-close";
  return `<${pri}>1 ${rfc3339(atMs)} ${headerField(header.hostname, 255)} ${headerField(header.appName, 48)} - ${msgId} `
    + `${structuredData(record)} ${summary(event, record)}`;
}

function structuredData(record: TranslationRecord): string {
  const params: [name: string, value: string | number][] = [
    ["gateway", record.gateway], ["cluster", record.cluster], ["mapping", record.mapping], ["protocol", record.protocol],
    ["podAddress", record.podAddress], ["podPort", record.podPort],
    ["destinationAddress", record.destinationAddress], ["destinationPort", record.destinationPort],
    ["egressAddress", record.egressAddress], ["egressPort", record.egressPort],
    ["start", rfc3339(record.startMs)],
  ];
  // An open connection has no end yet: its parameters are left out rather than sent empty.
  if (record.endMs !== null) params.push(["end", rfc3339(record.endMs)]);
  if (record.endReason !== null) params.push(["endReason", record.endReason]);
  if (record.counters !== null) {
    params.push(["originalPackets", record.counters.originalPackets], ["originalBytes", record.counters.originalBytes],
      ["replyPackets", record.counters.replyPackets], ["replyBytes", record.counters.replyBytes]);
  }
  let element = `[${TRANSLATION_SD_ID}`;
  for (const [name, value] of params) element += ` ${name}="${typeof value === "number" ? value : escapeParamValue(value)}"`;
  return `${element}]`;
}

/** PARAM-VALUE (RFC 5424 §6.3.3): '"', '\' and ']' must be escaped with a backslash; nothing else is. */
export function escapeParamValue(value: string): string {
  return /["\\\]]/.test(value) ? value.replace(/["\\\]]/g, "\\$&") : value;
}

/**
 * A header field is 1*PRINTUSASCII (33–126), at most `max` characters. The configuration already allows only
 * such names; anything else is replaced rather than letting one bad character make the whole message unparsable.
 */
function headerField(value: string, max: number): string {
  const printable = value.replace(/[^!-~]/g, "_").slice(0, max);
  return printable === "" ? "-" : printable;
}

/** MSG for a human reading the collector: plain ASCII (addresses, ports, names), so no BOM is needed (§6.4). */
function summary(event: TranslationEvent, record: TranslationRecord): string {
  const verb = event === "open" ? "opened" : "closed";
  return `${record.protocol} ${hostPort(record.podAddress, record.podPort)} to ${hostPort(record.destinationAddress, record.destinationPort)} `
    + `${verb} as ${hostPort(record.egressAddress, record.egressPort)} (cluster ${asciiOnly(record.cluster)}, mapping ${asciiOnly(record.mapping)})`;
}

function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function asciiOnly(value: string): string {
  return value.replace(/[^ -~]/g, "?");
}
