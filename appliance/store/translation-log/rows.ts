import type { EndReason, TransportProtocol, TranslationRecord } from "../../translation-model.js";
import { addressText } from "./address-bytes.js";

/** The IANA numbers of the protocols the model names; any other number reads back as "other". */
export const PROTOCOL_NUMBER_OF: Record<Exclude<TransportProtocol, "other">, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132 };
const PROTOCOL_NAMES = new Map<number, TransportProtocol>(
  Object.entries(PROTOCOL_NUMBER_OF).map(([name, number]) => [number, name as TransportProtocol]));
export const NAMED_PROTOCOL_NUMBERS: readonly number[] = Object.values(PROTOCOL_NUMBER_OF);

/** The number stored for an event: the name wins where it has one, so the two can never disagree in the store. */
export function protocolNumber(protocol: TransportProtocol, number: number): number {
  return protocol === "other" ? number : PROTOCOL_NUMBER_OF[protocol];
}

export function protocolName(number: number): TransportProtocol {
  return PROTOCOL_NAMES.get(number) ?? "other";
}

/** How an end is known, as stored (migrations/translation-log names the same numbers). */
export const END_REASONS = { kernel: 1, "gateway-restarted": 2, "log-interrupted": 3 } as const satisfies Record<EndReason, number>;
const END_REASON_NAMES = new Map<number, EndReason>(Object.entries(END_REASONS).map(([name, number]) => [number, name as EndReason]));

/** The columns every read selects, in this order: from translations (closed records). */
export const RECORD_COLUMNS = `id, cluster, mapping, protocol, pod_address, pod_port, destination_address, destination_port,
  egress_address, egress_port, start_ms, end_ms, end_reason, original_packets, original_bytes, reply_packets, reply_bytes`;

/** The same columns from open_translations, which has no end yet. */
export const OPEN_RECORD_COLUMNS = `id, cluster, mapping, protocol, pod_address, pod_port, destination_address, destination_port,
  egress_address, egress_port, start_ms, NULL AS end_ms, NULL AS end_reason, NULL AS original_packets, NULL AS original_bytes,
  NULL AS reply_packets, NULL AS reply_bytes`;

export interface RecordRow {
  id: number;
  cluster: number;
  mapping: number;
  protocol: number;
  pod_address: Buffer;
  pod_port: number;
  destination_address: Buffer;
  destination_port: number;
  egress_address: Buffer;
  egress_port: number;
  start_ms: number;
  end_ms: number | null;
  end_reason: number | null;
  original_packets: number | null;
  original_bytes: number | null;
  reply_packets: number | null;
  reply_bytes: number | null;
}

export function recordFromRow(row: RecordRow, gateway: string, name: (id: number) => string): TranslationRecord {
  return {
    id: row.id,
    gateway,
    cluster: name(row.cluster),
    mapping: name(row.mapping),
    protocol: protocolName(row.protocol),
    family: row.pod_address.length === 4 ? 4 : 6,
    podAddress: addressText(row.pod_address),
    podPort: row.pod_port,
    destinationAddress: addressText(row.destination_address),
    destinationPort: row.destination_port,
    egressAddress: addressText(row.egress_address),
    egressPort: row.egress_port,
    startMs: row.start_ms,
    endMs: row.end_ms,
    endReason: row.end_reason === null ? null : END_REASON_NAMES.get(row.end_reason) ?? null,
    counters: row.original_packets === null ? null : {
      originalPackets: row.original_packets,
      originalBytes: row.original_bytes ?? 0,
      replyPackets: row.reply_packets ?? 0,
      replyBytes: row.reply_bytes ?? 0,
    },
  };
}
