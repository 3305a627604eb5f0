import type { AttributedEvent, LogGap, SpoolPosition, TranslationLogStore, TranslationRecord } from "../../appliance/translation-model.js";

/** The store's contract as the pipeline relies on it: atomic commit with the position, destroys close open records. */
export class MemoryTranslationStore implements TranslationLogStore {
  records: TranslationRecord[] = [];
  commits: { events: number; position: SpoolPosition }[] = [];
  gaps: LogGap[] = [];
  stored: SpoolPosition | null = null;
  failing: Error | undefined;
  private readonly open = new Map<string, TranslationRecord>();

  commit(events: readonly AttributedEvent[], position: SpoolPosition) {
    if (this.failing) throw this.failing;
    const opened: TranslationRecord[] = [];
    const closed: TranslationRecord[] = [];
    let recovered = 0;
    let unattributedDropped = 0;
    for (const e of events) {
      const key = `${e.conntrackId}/${e.protocol}/${e.podAddress}/${e.podPort}/${e.egressAddress}/${e.egressPort}`;
      const existing = this.open.get(key);
      if (e.kind === "new") {
        if (existing) continue;
        const record: TranslationRecord = { id: this.records.length + 1, gateway: "gw", cluster: e.cluster, mapping: e.mapping, protocol: e.protocol, family: e.family,
          podAddress: e.podAddress, podPort: e.podPort, destinationAddress: e.destinationAddress, destinationPort: e.destinationPort,
          egressAddress: e.egressAddress, egressPort: e.egressPort, startMs: e.startMs, endMs: null, endReason: null, counters: null };
        this.records.push(record);
        this.open.set(key, record);
        opened.push(record);
        continue;
      }
      let record = existing;
      if (!record) {
        if (e.cluster === null) {
          unattributedDropped++;
          continue;
        }
        recovered++;
        record = { id: this.records.length + 1, gateway: "gw", cluster: e.cluster, mapping: e.mapping, protocol: e.protocol, family: e.family,
          podAddress: e.podAddress, podPort: e.podPort, destinationAddress: e.destinationAddress, destinationPort: e.destinationPort,
          egressAddress: e.egressAddress, egressPort: e.egressPort, startMs: e.startMs, endMs: null, endReason: null, counters: null };
        this.records.push(record);
      }
      this.open.delete(key);
      Object.assign(record, { endMs: e.endMs ?? null, endReason: "kernel", counters: e.counters ?? null });
      closed.push(record);
    }
    this.stored = { ...position };
    this.commits.push({ events: events.length, position: { ...position } });
    return { opened, closed, recovered, unattributedDropped };
  }
  position() {
    return this.stored;
  }
  openGap(reason: LogGap["reason"], fromMs: number) {
    if (this.failing) throw this.failing;
    if (!this.gaps.some((g) => g.toMs === null)) this.gaps.push({ gateway: "gw", fromMs, toMs: null, reason });
  }
  closeGap(toMs: number) {
    if (this.failing) throw this.failing;
    const gap = this.gaps.find((g) => g.toMs === null);
    if (gap) gap.toMs = toMs;
  }
  closeRecordsOfEarlierBoots() { return 0; }
  query() { return { records: [], gaps: [] }; }
  openRecords() { return this.open.values(); }
  closeOpenRecords(ids: readonly number[], atMs: number, reason: "log-interrupted") {
    const closed: TranslationRecord[] = [];
    for (const [key, record] of this.open) {
      if (!ids.includes(record.id)) continue;
      this.open.delete(key);
      Object.assign(record, { endMs: atMs, endReason: reason });
      closed.push(record);
    }
    return closed;
  }
  prune() { return 0; }
  sizeBytes() { return 0; }
  close() {}
}

