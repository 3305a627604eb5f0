import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTranslationLogStore } from "../appliance/store/translation-log.js";
import type { AttributedEvent, SpoolPosition } from "../appliance/translation-model.js";
import type { Figure } from "./lib/results.js";
import { median, percentile, round } from "./lib/stats.js";

export interface TranslationLookupOptions { quick: boolean; log: (line: string) => void }

const DAY_MS = 86_400_000;
const DAY0 = Date.UTC(2026, 0, 1);
const EGRESS_IPS = 100;
const FILL_BATCH = 5_000;
const COMMIT_BATCH = 4_000;
const LOOKUPS = 1_000;

/** A small seeded generator (mulberry32): the same data every run, so runs compare. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * One connection of a simulated day: 100 egress IPs, source ports 1024-65535 drawn at random (so every port is
 * reused all day, sometimes at once toward different destinations), pods from 10.244.0.0/16, 10,000
 * destinations, lasting 1 s to 10 min (log-uniform), one in a thousand 1 to 4 hours.
 */
function connection(next: () => number, index: number, total: number, kind: AttributedEvent["kind"]): AttributedEvent {
  const startMs = DAY0 + Math.floor((index / total) * DAY_MS);
  const long = next() < 0.001;
  const durationMs = long ? 3_600_000 + Math.floor(next() * 3 * 3_600_000) : Math.floor(Math.exp(Math.log(1_000) + next() * Math.log(600)));
  const pod = Math.floor(next() * 65_536);
  const destination = Math.floor(next() * 10_000);
  const event: AttributedEvent = {
    kind, conntrackId: index % 2 ** 32, protocol: "tcp", protocolNumber: 6, family: 4,
    podAddress: `10.244.${pod >> 8}.${pod & 255}`, podPort: 32_768 + Math.floor(next() * 28_000),
    destinationAddress: `198.51.${100 + (destination >> 8) % 100}.${destination & 255}`, destinationPort: next() < 0.8 ? 443 : 5_432,
    egressAddress: `203.0.113.${1 + Math.floor(next() * EGRESS_IPS)}`, egressPort: 1_024 + Math.floor(next() * (65_536 - 1_024)),
    startMs, cluster: `cluster-${pod % 20}`, mapping: `app-${pod % 500}`,
  };
  if (kind === "destroy") {
    event.endMs = startMs + durationMs;
    event.counters = { originalPackets: 12, originalBytes: 2_400, replyPackets: 20, replyBytes: 24_000 };
  }
  return event;
}

interface Known { id: number; egressAddress: string; egressPort: number; startMs: number; endMs: number }

/**
 * The translation log's store on this machine's disk: fill it with a day of connections (10 million, or 1
 * million with --quick) through commit() in big batches, then time random reverse lookups (egress IP, port,
 * instant) of known records, the writer's rate on the full store (one new and one destroy event per
 * connection, batches of 4,000 events), and the start-up cost of reloading the open connections.
 */
export async function benchTranslationLookup(options: TranslationLookupOptions): Promise<Figure[]> {
  const total = options.quick ? 1_000_000 : 10_000_000;
  const dir = mkdtempSync(join(tmpdir(), "egw-bench-translations-"));
  const path = join(dir, "translations.db");
  const figures: Figure[] = [];
  let store = openTranslationLogStore(path, { gateway: "gw-bench", bootId: "bench-boot" });
  try {
    const next = random(9);
    const sample = new Set<number>();
    while (sample.size < LOOKUPS) sample.add(Math.floor(next() * total));
    const known: Known[] = [];
    let offset = 0;
    const fillStarted = performance.now();
    for (let first = 0; first < total; first += FILL_BATCH) {
      const events: AttributedEvent[] = [];
      for (let i = first; i < Math.min(total, first + FILL_BATCH); i++) events.push(connection(next, i, total, "destroy"));
      const position: SpoolPosition = { file: "spool-0", offset: offset += events.length * 300 };
      const { closed } = store.commit(events, position);
      closed.forEach((record, i) => {
        if (sample.has(first + i)) known.push({ ...record, endMs: record.endMs ?? 0 });
      });
      if ((first / FILL_BATCH) % 200 === 0 && first > 0) options.log(`  translation log: ${first.toLocaleString("en")} records stored`);
    }
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const fillRate = total / fillSeconds;
    const usedPerRecord = store.usedBytes() / total;
    const filePerRecord = store.sizeBytes() / total;
    options.log(`  translation log: ${total.toLocaleString("en")} records in ${fillSeconds.toFixed(1)} s (${Math.round(fillRate).toLocaleString("en")} records/s), `
      + `${usedPerRecord.toFixed(0)} bytes per record in use, ${filePerRecord.toFixed(0)} in the files (with the WAL)`);
    figures.push({
      id: "tl-fill-rate", section: "translation log", title: `records stored per second, whole records in batches of ${FILL_BATCH.toLocaleString("en")}, filling to ${total.toLocaleString("en")}`,
      value: Math.round(fillRate), unit: "records/s", target: "report", met: null,
    }, {
      id: "tl-bytes-per-record", section: "translation log", title: `bytes on disk per record (rows and indexes) with ${total.toLocaleString("en")} records`,
      value: round(usedPerRecord, 0), unit: "bytes", target: "report (10 GiB holds 10 GiB ÷ this)", met: null,
      notes: `file and WAL: ${filePerRecord.toFixed(0)} bytes per record`,
    });

    const latencies: number[] = [];
    let missing = 0;
    for (const record of known) {
      const atMs = record.startMs + Math.floor(next() * (record.endMs - record.startMs + 1));
      const started = performance.now();
      const page = store.query({ egressAddress: record.egressAddress, egressPort: record.egressPort, atMs, limit: 100 });
      latencies.push(performance.now() - started);
      if (!page.records.some((r) => r.id === record.id)) missing++;
    }
    if (missing > 0) throw new Error(`${missing} of ${known.length} reverse lookups did not return the record they looked for`);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    options.log(`  translation log: reverse lookup with ${total.toLocaleString("en")} records: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (look-back ${Math.round(store.longestMs() / 60_000)} min)`);
    figures.push({
      id: "tl-lookup", section: "translation log", title: `reverse lookup (egress IP, port, instant) with ${total.toLocaleString("en")} records stored (p99)`,
      value: round(p99, 2), unit: "ms", target: "p99 ≤ 50 ms (at 10 million)", met: options.quick ? null : p99 <= 50,
      notes: `p50 ${p50.toFixed(2)} ms over ${latencies.length} lookups of known records, each found`, samples: latencies.map((l) => round(l, 3)),
    });

    const connections = options.quick ? 200_000 : 1_000_000;
    const pending: AttributedEvent[] = [];
    const batchSeconds: number[] = [];
    const writerStarted = performance.now();
    for (let first = 0; first < connections; first += COMMIT_BATCH / 2) {
      const events: AttributedEvent[] = [];
      for (let i = first; i < first + COMMIT_BATCH / 2; i++) {
        const opened = connection(next, total + i, total, "new");
        events.push(opened);
        pending.push(opened);
      }
      // Each batch closes as many connections as it opens, those opened about ten batches ago.
      if (pending.length > 10 * COMMIT_BATCH) {
        for (const opened of pending.splice(0, COMMIT_BATCH / 2)) {
          events.push({ ...opened, kind: "destroy", endMs: opened.startMs + 5_000, counters: { originalPackets: 1, originalBytes: 60, replyPackets: 1, replyBytes: 60 } });
        }
      }
      const started = performance.now();
      store.commit(events, { file: "spool-1", offset: offset += events.length * 300 });
      batchSeconds.push((performance.now() - started) / 1000);
    }
    const writerSeconds = (performance.now() - writerStarted) / 1000;
    const events = connections * 2 - pending.length;
    const commitRate = events / batchSeconds.reduce((a, b) => a + b, 0);
    options.log(`  translation log: commit() ${Math.round(commitRate).toLocaleString("en")} events/s (${events.toLocaleString("en")} events, `
      + `${writerSeconds.toFixed(1)} s with generation; median batch ${(median(batchSeconds) * 1000).toFixed(1)} ms)`);
    figures.push({
      id: "tl-commit-rate", section: "translation log", title: `events stored per second by commit(), new + destroy, batches of ${COMMIT_BATCH.toLocaleString("en")}, ${total.toLocaleString("en")} records present`,
      value: Math.round(commitRate), unit: "events/s", target: "≥ 100,000 events/s (50,000 connections/s)", met: commitRate >= 100_000,
      notes: `median batch ${(median(batchSeconds) * 1000).toFixed(1)} ms; time inside commit() only`,
    });

    // Reloading the open connections is the price of the writer's map: measure it with 100,000 of them.
    for (let first = 0; store.openCount() < 100_000; first += COMMIT_BATCH) {
      const extra = Array.from({ length: COMMIT_BATCH }, (_, i) => connection(next, total + connections + first + i, total, "new"));
      store.commit(extra, { file: "spool-1", offset: offset += extra.length * 300 });
    }
    const openCount = store.openCount();
    store.close();
    const reopenStarted = performance.now();
    store = openTranslationLogStore(path, { gateway: "gw-bench", bootId: "bench-boot" });
    const reopenMs = performance.now() - reopenStarted;
    if (store.openCount() !== openCount) throw new Error(`reopened with ${store.openCount()} open connections, expected ${openCount}`);
    options.log(`  translation log: reopening with ${openCount.toLocaleString("en")} open connections took ${reopenMs.toFixed(0)} ms`);
    figures.push({
      id: "tl-reopen", section: "translation log", title: `opening the store and reloading ${openCount.toLocaleString("en")} open connections`,
      value: round(reopenMs, 0), unit: "ms", target: "report", met: null,
    });
    return figures;
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
