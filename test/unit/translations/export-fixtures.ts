import type { TranslationRecord } from "../../../appliance/translation-model.js";

/** Records as the store hands them to the exports. */
const START = Date.UTC(2026, 11, 2, 10, 15, 30, 123);
const END = START + 61_004;

export function openRecord(overrides: Partial<TranslationRecord> = {}): TranslationRecord {
  return {
    id: 41, gateway: "gw-a", cluster: "prod", mapping: "erp", protocol: "tcp", family: 4,
    podAddress: "10.244.1.7", podPort: 43210, destinationAddress: "203.0.113.7", destinationPort: 443,
    egressAddress: "198.51.100.10", egressPort: 61000, startMs: START, endMs: null, endReason: null, counters: null,
    ...overrides,
  };
}

export function closedRecord(overrides: Partial<TranslationRecord> = {}): TranslationRecord {
  return openRecord({
    endMs: END, endReason: "kernel",
    counters: { originalPackets: 12, originalBytes: 1_830, replyPackets: 10, replyBytes: 48_210 },
    ...overrides,
  });
}
