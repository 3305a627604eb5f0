import type { TrafficCounters, TranslationRecord, TransportProtocol } from "../../translation-model.js";

/** Which moment of a connection an exported record tells: it is exported when it opens and again when it ends. */
export type TranslationEvent = "open" | "close";

export interface Endpoint {
  address: string;
  /** 0 for protocols without ports. */
  port: number;
}

/**
 * The one JSON shape of a translation outside the gateway: a JSON-lines export line, and the API's answer.
 * Stable: fields are only ever added, never renamed or retyped, and they always appear in this order. It holds
 * what the store holds about the connection and nothing else (no token, no configuration).
 */
export interface TranslationJson {
  event: TranslationEvent;
  /** The gateway that translated the connection (gateway.name). */
  gateway: string;
  cluster: string;
  mapping: string;
  protocol: TransportProtocol;
  /** The connection's source as the pod sent it. */
  pod: Endpoint;
  destination: Endpoint;
  /** The source the destination saw: the egress IP and the port the kernel chose. */
  egress: Endpoint;
  /** RFC 3339, UTC, milliseconds: "2026-12-02T10:15:30.123Z". */
  start: string;
  /** null while the connection is open. */
  end: string | null;
  /** "kernel" (the kernel reported the end), "gateway-restarted" (the gateway rebooted first), null while open. */
  endReason: TranslationRecord["endReason"];
  /** Packets and bytes each way, on close (zero when conntrack accounting was off); null while open. */
  counters: TrafficCounters | null;
}

/** RFC 3339 in UTC with milliseconds; throws a RangeError for a time that is not one (the caller counts it). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

export function translationJson(event: TranslationEvent, record: TranslationRecord): TranslationJson {
  return {
    event,
    gateway: record.gateway,
    cluster: record.cluster,
    mapping: record.mapping,
    protocol: record.protocol,
    pod: { address: record.podAddress, port: record.podPort },
    destination: { address: record.destinationAddress, port: record.destinationPort },
    egress: { address: record.egressAddress, port: record.egressPort },
    start: rfc3339(record.startMs),
    end: record.endMs === null ? null : rfc3339(record.endMs),
    endReason: record.endReason,
    // Copied field by field: whatever else a counters object carries never leaves the gateway.
    counters: record.counters === null ? null : {
      originalPackets: record.counters.originalPackets,
      originalBytes: record.counters.originalBytes,
      replyPackets: record.counters.replyPackets,
      replyBytes: record.counters.replyBytes,
    },
  };
}

/** One line of the JSON-lines export, newline included (JSON.stringify escapes any newline inside a value). */
export function translationJsonLine(event: TranslationEvent, record: TranslationRecord): string {
  return `${JSON.stringify(translationJson(event, record))}\n`;
}
