import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pino from "pino";
import type { Mapping } from "../../../appliance/model.js";
import { Attribution } from "../../../appliance/translations/attribution.js";
import { GapKeeper } from "../../../appliance/translations/gaps.js";
import { TranslationIngest, type IngestLimits } from "../../../appliance/translations/ingest.js";
import type { TranslationSink } from "../../../appliance/translation-model.js";
import { FakeSpoolFiles } from "../../helpers/fake-spool.js";
import { MemoryTranslationStore as MemoryStore } from "../../helpers/memory-translation-store.js";

const SPOOL = "/var/lib/egw/translations/spool.json";

const MAPPINGS: Mapping[] = [{ cluster: "blue", name: "web", sourceCidr: "10.128.0.0/24", egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: {} }];

let nextId = 1;
function line(kind: "new" | "destroy", options: { id?: number; pod?: string; egress?: string; port?: number; startSec?: number } = {}): string {
  const id = options.id ?? nextId++;
  const port = options.port ?? 40_000 + (id % 20_000);
  const start = options.startSec ?? 1_796_248_000;
  const common = { "orig.ip.protocol": 17, "orig.l4.sport": port, "orig.l4.dport": 53, "reply.ip.protocol": 17, "reply.l4.sport": 53, "reply.l4.dport": port,
    "ct.id": id, "ct.event": kind === "new" ? 1 : 4, "flow.start.sec": start, "flow.start.usec": 5000, "oob.family": 2,
    src_ip: options.pod ?? "10.128.0.5", dest_ip: "198.51.100.1", "reply.ip.saddr.str": "198.51.100.1", "reply.ip.daddr.str": options.egress ?? "203.0.113.10" };
  const destroy = kind === "destroy" ? { "flow.end.sec": start + 2, "flow.end.usec": 0, "orig.raw.pktcount": 1, "orig.raw.pktlen": 40, "reply.raw.pktcount": 1, "reply.raw.pktlen": 40 } : {};
  return `${JSON.stringify({ ...common, ...destroy })}\n`;
}

function setup(limits: Partial<IngestLimits> = {}) {
  const store = new MemoryStore();
  const spool = new FakeSpoolFiles();
  const log = pino({ enabled: false });
  const gaps = new GapKeeper(store, log);
  const signals: string[] = [];
  const diskFull: boolean[] = [];
  const sinkSeen: string[] = [];
  const sink: TranslationSink = { opened: (r) => sinkSeen.push(`opened ${r.id}`), closed: (r) => sinkSeen.push(`closed ${r.id}`) };
  let now = 1_796_248_100_000;
  const clock = { now: () => now, advance: (ms: number) => void (now += ms) };
  /** What ulogd does on SIGHUP: reopen (create) its file. */
  let ulogdRunning = true;
  let mappings = MAPPINGS;
  const make = () => new TranslationIngest({
    store, spool, spoolPath: SPOOL, attribution: () => new Attribution(mappings), sinks: [sink], gaps, log, clock: clock.now,
    signalUlogd: (signal) => {
      signals.push(signal);
      if (ulogdRunning) spool.append(SPOOL, "");
      return ulogdRunning;
    },
    onDiskFull: (full) => diskFull.push(full),
    limits: { maxBatchEvents: 1000, chunkBytes: 64 * 1024, rotateAtBytes: 1024 ** 3, minFreeBytes: 1024 ** 2, ...limits },
  });
  const drain = (ingest: TranslationIngest) => {
    for (let i = 0; i < 10_000 && ingest.pumpOnce().more; i++);
  };
  return {
    store, spool, gaps, signals, diskFull, sinkSeen, clock, make, drain, setUlogdRunning: (running: boolean) => void (ulogdRunning = running),
    setMappings: (next: Mapping[]) => void (mappings = next),
  };
}

describe("TranslationIngest: spool → store", () => {
  it("commits batches with the position they reached, and hands the stored records to the sinks", () => {
    const t = setup({ maxBatchEvents: 3 });
    const ingest = t.make();
    const text = [1, 2, 3, 4, 5].map((id) => line("new", { id })).join("") + line("destroy", { id: 2 });
    t.spool.append(SPOOL, text);
    t.drain(ingest);
    assert.deepEqual(t.store.commits.filter((c) => c.events > 0).map((c) => c.events), [3, 3]);
    assert.deepEqual(t.store.position(), { file: "spool.json", offset: Buffer.byteLength(text) });
    assert.equal(t.store.records.length, 5);
    assert.equal(t.store.records[1]?.endReason, "kernel");
    assert.deepEqual(t.sinkSeen, ["opened 1", "opened 2", "opened 3", "opened 4", "opened 5", "closed 2"]);
    assert.equal(ingest.status().eventsIngested, 6);
    assert.equal(ingest.status().spoolBytesBehind, 0);
    assert.equal(ingest.status().lagMs, 0);
  });

  it("leaves a line ulogd is still writing for the next pump, and resumes from the stored position after a restart", () => {
    const t = setup();
    const whole = line("new", { id: 10 });
    t.spool.append(SPOOL, whole + line("new", { id: 11 }).slice(0, 40));
    t.drain(t.make());
    assert.equal(t.store.records.length, 1);
    t.spool.append(SPOOL, line("new", { id: 11 }).slice(40));
    const restarted = t.make();
    t.drain(restarted);
    assert.deepEqual(t.store.records.map((r) => r.podPort), [40_010, 40_011], "each connection once: nothing lost, nothing twice");
  });

  it("counts malformed, untranslated-by-any-mapping and recovered events apart", () => {
    const t = setup();
    const ingest = t.make();
    t.spool.append(SPOOL, "garbage\n" + line("new", { egress: "203.0.113.99" }) + line("new", { pod: "10.9.9.9" }) + line("destroy", { id: 77 }) + line("new", { id: 78 }));
    t.drain(ingest);
    const status = ingest.status();
    assert.deepEqual([status.eventsMalformed, status.eventsUnattributed, status.eventsIngested, status.recoveredNewEvents], [1, 2, 2, 1]);
    assert.equal(status.lastEventMs, 1_796_248_002_000);
  });

  it("reports lag and bytes behind while the spool holds more than one chunk", () => {
    const t = setup({ chunkBytes: 1024 });
    const ingest = t.make();
    for (let i = 0; i < 50; i++) t.spool.append(SPOOL, line("new", { startSec: 1_796_248_090 }));
    assert.equal(ingest.pumpOnce().more, true);
    const status = ingest.status();
    assert.ok(status.spoolBytesBehind > 0);
    assert.equal(status.lagMs, 1_796_248_100_000 - 1_796_248_090_005);
    t.drain(ingest);
    assert.equal(t.store.records.length, 50);
    assert.equal(ingest.status().spoolBytesBehind, 0);
  });

  it("rotates a fully read spool: renames it, SIGHUPs ulogd, drains the old generation, then deletes it", () => {
    const t = setup({ rotateAtBytes: 1000 });
    const ingest = t.make();
    for (let i = 0; i < 10; i++) t.spool.append(SPOOL, line("new"));
    t.setUlogdRunning(false);
    t.drain(ingest);
    assert.ok(t.signals.length >= 1 && t.signals.every((s) => s === "SIGHUP"), "asked again while ulogd was not there to reopen");
    const generation = t.store.position()?.file ?? "";
    assert.match(generation, /^spool\.json\.\d+$/);
    assert.equal(t.spool.stat(SPOOL), undefined, "no new file until ulogd reopens");
    // Still written to the old file (ulogd had not reopened yet), then ulogd starts and creates the new one.
    t.spool.append(`${SPOOL.replace("spool.json", "")}${generation}`, line("new"));
    t.setUlogdRunning(true);
    t.spool.append(SPOOL, line("new"));
    t.drain(ingest);
    assert.deepEqual(t.store.position(), { file: "spool.json", offset: t.spool.stat(SPOOL)?.size });
    assert.deepEqual(t.spool.generations(SPOOL), []);
    assert.equal(t.store.records.length, 12);
  });

  for (const crashAfter of ["position", "rename", "final-position"] as const) {
    it(`loses and repeats nothing when the daemon restarts mid-rotation (after the ${crashAfter} step)`, () => {
      const t = setup({ rotateAtBytes: 1000 });
      for (let i = 0; i < 10; i++) t.spool.append(SPOOL, line("new"));
      t.drain(t.make());
      const generation = t.store.position()?.file as string;
      const generationPath = `/var/lib/egw/translations/${generation}`;
      // Rewind the world to the crash point.
      if (crashAfter === "position") t.spool.rename(generationPath, SPOOL);
      if (crashAfter === "rename") t.spool.remove(SPOOL);
      if (crashAfter === "final-position") {
        t.store.commit([], { file: "spool.json", offset: 0 });
        if (!t.spool.stat(SPOOL)) t.spool.append(SPOOL, "");
      }
      t.spool.append(crashAfter === "final-position" ? SPOOL : generationPath, line("new"));
      // The restarted daemon's ulogd opens spool.json anew.
      t.spool.append(SPOOL, line("new"));
      t.drain(t.make());
      assert.equal(t.store.records.length, 12);
      assert.equal(new Set(t.store.records.map((r) => r.podPort)).size, t.store.records.length, "no record twice");
      assert.deepEqual(t.spool.generations(SPOOL), []);
      assert.equal(t.store.position()?.file, "spool.json");
    });
  }

  it("opens a disk-full gap and asks for ulogd to stop when space runs low; closes it when space returns", () => {
    const t = setup();
    const ingest = t.make();
    t.spool.free = 1024;
    ingest.pumpOnce();
    assert.equal(ingest.status().state, "disk-full");
    assert.deepEqual(t.diskFull, [true]);
    assert.deepEqual(t.store.gaps.map((g) => [g.reason, g.toMs]), [["disk-full", null]]);
    t.spool.free = 1024 ** 3;
    ingest.pumpOnce();
    assert.equal(ingest.status().state, "disk-full", "free space is looked at once a second");
    t.clock.advance(1_000);
    ingest.pumpOnce();
    assert.equal(ingest.status().state, "running");
    assert.deepEqual(t.diskFull, [true, false]);
    assert.deepEqual(t.store.gaps.map((g) => [g.reason, g.toMs]), [["disk-full", 1_796_248_101_000]]);
  });

  it("survives a failing store: store-error state, a gap once the store takes it, retries with backoff, no event lost", () => {
    const t = setup();
    const ingest = t.make();
    t.spool.append(SPOOL, line("new") + line("new"));
    t.store.failing = Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    assert.deepEqual(ingest.pumpOnce(), { more: false });
    assert.equal(ingest.status().state, "store-error");
    assert.equal(ingest.status().eventsIngested, 0);
    t.clock.advance(500);
    ingest.pumpOnce();
    assert.equal(t.store.commits.length, 0, "no attempt before the backoff");
    t.store.failing = undefined;
    t.clock.advance(500);
    ingest.pumpOnce();
    assert.equal(ingest.status().state, "running");
    assert.equal(t.store.records.length, 2);
    assert.deepEqual(t.store.gaps.map((g) => [g.reason, g.fromMs, g.toMs]), [["store-error", 1_796_248_100_000, 1_796_248_101_000]]);
  });

  it("closes a connection whose mapping was deleted while it was open; drops (and counts) an end nobody opened or owns", () => {
    const t = setup();
    const ingest = t.make();
    t.spool.append(SPOOL, line("new", { id: 901, port: 41_901 }));
    t.drain(ingest);
    t.setMappings([]);
    t.spool.append(SPOOL, line("destroy", { id: 901, port: 41_901 }) + line("destroy", { id: 902, port: 41_902 }));
    t.drain(ingest);
    const record = t.store.records.find((r) => r.podPort === 41_901);
    assert.equal(record?.endReason, "kernel", "the record its mapping opened is closed, though the mapping is gone");
    assert.equal(record?.cluster, "blue");
    assert.equal(t.store.records.length, 1, "the end of a connection no one opened and no mapping explains is not kept");
    assert.equal(ingest.status().eventsUnattributed, 1);
    assert.equal(ingest.status().eventsIngested, 2);
    assert.ok(t.sinkSeen.includes(`closed ${record?.id}`), "the sinks (the port tally) hear of the close");
  });

  it("a sink that throws does not stop the log, nor cost the other records or sinks", () => {
    const t = setup();
    const tallied: number[] = [];
    const exported: number[] = [];
    const ingest = new TranslationIngest({
      store: t.store, spool: t.spool, spoolPath: SPOOL, attribution: () => new Attribution(MAPPINGS), gaps: t.gaps, log: pino({ enabled: false }),
      sinks: [
        { opened: (r) => { if (r.id === 1) throw new Error("a record this export cannot format"); exported.push(r.id); }, closed: () => {} },
        { opened: (r) => tallied.push(r.id), closed: () => {} },
      ],
      clock: t.clock.now, signalUlogd: () => true, onDiskFull: () => {},
      limits: { maxBatchEvents: 10, chunkBytes: 4096, rotateAtBytes: 1024 ** 3, minFreeBytes: 0 },
    });
    t.spool.append(SPOOL, line("new") + line("new", { id: 2, port: 40001 }));
    t.drain(ingest);
    assert.equal(ingest.status().eventsIngested, 2);
    assert.equal(t.store.records.length, 2);
    assert.deepEqual(tallied, [1, 2], "every sink still gets every record, whatever another sink does with one");
    assert.deepEqual(exported, [2], "the failing sink still gets the records after the one it failed on");
  });
});
