import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Mapping } from "../appliance/model.js";
import { parseConntrackStats } from "../appliance/kernel/conntrack-stats.js";
import { BENCH_ADDR, buildBenchTopology, flood, type BenchTopology } from "./lib/bench-topology.js";
import type { Figure } from "./lib/results.js";
import { median, round } from "./lib/stats.js";
import { TranslationLogPipeline, until } from "./lib/translation-log-pipeline.js";
import type { WorkerStatus } from "./lib/translation-log-worker.js";

export interface TranslationLogBenchOptions { quick: boolean; log: (line: string) => void }

const EGRESS = BENCH_ADDR.egress[0];
const MAPPING: Mapping = { cluster: "bench", name: "flood", sourceCidr: BENCH_ADDR.clientPrefix, egressIp: EGRESS, destinations: [], excludedDestinations: [], labels: {} };
/** What the daemon sets when the log starts (translation-log.ts): accounting and timestamps cost every new connection. */
const LOG_SYSCTLS = (on: boolean) => ({ "net.netfilter.nf_conntrack_acct": on ? 1 : 0, "net.netfilter.nf_conntrack_timestamp": on ? 1 : 0 });
/**
 * "Keeps up": within this long after the flood's end every flow has its record and the spool is read to its end, and
 * once every flow is closed no destroy came without its NEW (no NEW event lost). The closing itself is left out of
 * the bound: after a flood, conntrack's garbage collector reaps expired entries (and so sends their destroys) at its
 * own pace, tens of seconds for a table of 50,000 and more, with the pipeline idle.
 */
const KEEP_UP_SECONDS = 10;
const PORTS = 64_512;

const fmt = (n: number) => Math.round(n).toLocaleString("en");

/** One static SNAT rule to the first egress IP: the kernel's NAT ceiling, as in dataplane.ts's static-snat case. */
async function staticSnat(topo: BenchTopology): Promise<void> {
  const file = join(topo.workDir, "snat.nft");
  writeFileSync(file, `table ip bench_snat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname "outside" snat to ${EGRESS}\n }\n}\n`);
  await topo.gateway.exec("nft", ["-f", file]);
}

async function conntrackStats(topo: BenchTopology): Promise<{ insertFailed: number; entries: number }> {
  const counters = parseConntrackStats(String((await topo.gateway.exec("conntrack", ["-S"])).stdout));
  const entries = Number(String((await topo.gateway.exec("conntrack", ["-C"])).stdout).trim());
  return { insertFailed: counters["insert_failed"] ?? 0, entries };
}

interface Drain {
  /** Every flow has its record (from its NEW, or from its destroy if the NEW was lost) and the spool is read to its end. */
  recorded: boolean;
  recordedMs: number;
  /** Every flow is closed: all its destroys came in, at the pace of conntrack's garbage collection. */
  complete: boolean;
  afterMs: number;
  final: WorkerStatus;
}

/** Random port pairs repeat now and then within the timeout: a repeat is a packet of an existing flow, not a new one. */
const REPEAT_TOLERANCE = 0.9999;

/**
 * Waits until every packet the server received belongs to a closed record (one-packet flows: the packets in the
 * records' accounting add up to what arrived) and the spool is read to its end; notes when every flow first had its
 * record.
 */
async function drain(pipeline: TranslationLogPipeline, before: WorkerStatus, received: number, timeoutMs: number, untilRecorded = false): Promise<Drain> {
  let final = before;
  let recordedMs: number | undefined;
  const started = performance.now();
  const done = await until(async () => {
    final = await pipeline.status(EGRESS);
    const caughtUp = final.spoolBytesBehind === 0;
    if (recordedMs === undefined && caughtUp && final.records - before.records >= received * REPEAT_TOLERANCE) recordedMs = performance.now() - started;
    return (untilRecorded && recordedMs !== undefined) || (final.closedPackets - before.closedPackets >= received && caughtUp);
  }, timeoutMs, 200);
  return { recorded: recordedMs !== undefined, recordedMs: recordedMs ?? done.afterMs, complete: done.met, afterMs: done.afterMs, final };
}

/**
 * Ends the previous phase: flushes what conntrack's GC has not reaped yet (its destroys go to the log if ulogd runs),
 * then waits until the table is empty (a connection whose destroy waits for redelivery stays counted) and the spool
 * is read to its end.
 */
async function settle(topo: BenchTopology, pipeline: TranslationLogPipeline, timeoutMs: number): Promise<boolean> {
  await topo.gateway.exec("conntrack", ["-F"], { reject: false });
  const done = await until(async () => (await conntrackStats(topo)).entries === 0 && (await pipeline.status(EGRESS)).spoolBytesBehind === 0, timeoutMs, 250);
  return done.met;
}

type Mode = "off" | "sysctls" | "on";

/** Figure 1: new connections per second, the log off, only its sysctls, and on; alternating within each repetition. */
async function onOff(topo: BenchTopology, pipeline: TranslationLogPipeline, options: TranslationLogBenchOptions): Promise<Figure[]> {
  const seconds = options.quick ? 2 : 4;
  const repetitions = options.quick ? 1 : 5;
  const rates: Record<Mode, number[]> = { off: [], sysctls: [], on: [] };
  const catchUp: number[] = [];
  let incomplete = 0;
  for (let r = 0; r < repetitions; r++) {
    for (const mode of ["off", "sysctls", "on"] as const) {
      await topo.gateway.sysctl(LOG_SYSCTLS(mode !== "off"));
      await settle(topo, pipeline, 10_000);
      if (mode === "on") await pipeline.startUlogd();
      const before = await pipeline.status(EGRESS);
      const result = await flood(topo, seconds);
      const rate = result.received / result.seconds;
      rates[mode].push(rate);
      let note = "";
      if (mode === "on") {
        // The next case must not share the machine with the log's backlog: wait for it before stopping ulogd (the
        // destroys still to come at conntrack's GC pace are cheap; the next case flushes the table without a listener).
        const drained = await drain(pipeline, before, result.received, options.quick ? 30_000 : 60_000, true);
        if (drained.recorded) catchUp.push(drained.recordedMs / 1000);
        else incomplete++;
        note = ` (log ${drained.recorded ? `had every flow ${(drained.recordedMs / 1000).toFixed(1)} s after the flood` : "behind at the bound"})`;
        await pipeline.stopUlogd();
      }
      options.log(`  new flows/s, log ${mode.padEnd(8)} ${fmt(rate)}${note}`);
    }
  }
  const off = median(rates.off);
  const sysctls = median(rates.sysctls);
  const on = median(rates.on);
  const samples = (mode: Mode) => rates[mode].map((v) => round(v, 0));
  return [{
    id: "tl-rate-on-off", section: "translation log", title: "new connections/s with the translation log on (ulogd, ingest, store, acct+timestamp) vs off (same SNAT rule, no acct/timestamp)",
    value: round(on, 0), unit: "flows/s", baseline: { title: "log off", value: round(off, 0), unit: "flows/s" }, ratio: round(on / off, 3),
    target: "≥ 0.9×", met: on / off >= 0.9, samples: samples("on"),
    notes: `unpaced trafgen, one-packet UDP flows, ${seconds} s per case, median of ${repetitions}; acct+timestamp alone: ${fmt(sysctls)}/s (${round(sysctls / off, 3)}×); `
      + `every flow had its record ${catchUp.length ? `${median(catchUp).toFixed(1)} s (median)` : "—"} after the flood${incomplete ? `, ${incomplete} run(s) still behind at the bound` : ""}`,
  }, {
    id: "tl-rate-sysctls", section: "translation log", title: "new connections/s with only the log's conntrack sysctls (nf_conntrack_acct, nf_conntrack_timestamp) vs off",
    value: round(sysctls, 0), unit: "flows/s", baseline: { title: "log off", value: round(off, 0), unit: "flows/s" }, ratio: round(sysctls / off, 3),
    target: "reported", met: null, samples: samples("sysctls"),
  }];
}

interface Point { label: string; achieved: number; flows: number; records: number; recovered: number; lagMs: number; behindMB: number; recorded: boolean; recordedS: number; complete: boolean; completeS: number; keptUp: boolean; ulogdCpu: number; ingestCpu: number; seconds: number }

/** Figure 2: the log running all along, trafgen paced at increasing rates; how long until every flow is recorded. */
async function keepUp(topo: BenchTopology, pipeline: TranslationLogPipeline, options: TranslationLogBenchOptions): Promise<Figure[]> {
  const seconds = options.quick ? 3 : 10;
  const targets = options.quick ? [20_000, 0] : [10_000, 20_000, 35_000, 50_000, 70_000, 0];
  await topo.gateway.sysctl(LOG_SYSCTLS(true));
  await pipeline.startUlogd();
  const points: Point[] = [];
  for (const target of targets) {
    const label = target > 0 ? `${target / 1000}k` : "max";
    if (!await settle(topo, pipeline, options.quick ? 30_000 : 120_000)) options.log(`  keep-up ${label}: the previous phase had not settled at the bound`);
    const before = await pipeline.status(EGRESS);
    const cpuBefore = { ulogd: pipeline.ulogdCpuSeconds(), ingest: before.cpuSeconds };
    const result = await flood(topo, seconds, target > 0 ? { ratePps: target } : {});
    const atEnd = await pipeline.status(EGRESS);
    const drained = await drain(pipeline, before, result.received, options.quick ? 15_000 : 90_000);
    const after = drained.final;
    // The flood() helper waits 200 ms after trafgen before it reads the server's counter.
    const completeS = drained.afterMs / 1000 + 0.2;
    const recordedS = drained.recordedMs / 1000 + 0.2;
    const recovered = after.recovered - before.recovered;
    const point: Point = {
      label, achieved: result.received / result.seconds, flows: result.received, records: after.records - before.records, recovered,
      lagMs: atEnd.lagMs, behindMB: atEnd.spoolBytesBehind / 2 ** 20, recorded: drained.recorded, recordedS, complete: drained.complete, completeS,
      keptUp: drained.recorded && recordedS <= KEEP_UP_SECONDS && drained.complete && recovered === 0,
      ulogdCpu: pipeline.ulogdCpuSeconds() - cpuBefore.ulogd, ingestCpu: after.cpuSeconds - cpuBefore.ingest, seconds: result.seconds,
    };
    points.push(point);
    options.log(`  keep-up ${label.padEnd(4)} achieved ${fmt(point.achieved)}/s, ${fmt(point.flows)} flows, ${fmt(point.records)} records, ${recovered} NEW recovered, `
      + `at the end ${(point.lagMs / 1000).toFixed(1)} s / ${point.behindMB.toFixed(1)} MiB behind, `
      + `${point.recorded ? `all recorded after ${recordedS.toFixed(1)} s` : "NOT all recorded"}, ${point.complete ? `all closed after ${completeS.toFixed(1)} s` : "NOT all closed at the bound"}; `
      + `CPU ulogd ${point.ulogdCpu.toFixed(1)} s, ingest ${point.ingestCpu.toFixed(1)} s${point.keptUp ? "" : "  (did not keep up)"}`);
  }
  await pipeline.stopUlogd();
  const best = Math.max(0, ...points.filter((p) => p.keptUp).map((p) => p.achieved));
  const figures: Figure[] = [{
    id: "tl-keep-up", section: "translation log", title: "highest new-connection rate the translation log keeps up with, 0 lost events",
    value: round(best, 0), unit: "flows/s", target: "≥ 50,000/s on 2 cores", met: options.quick ? null : best >= 50_000,
    samples: points.map((p) => round(p.achieved, 0)),
    notes: `kept up = within ${KEEP_UP_SECONDS} s of the flood's end every flow the server received has its record and the spool is read to its end, `
      + `and once all are closed (their destroys come at the pace of conntrack's GC) no destroy came without its NEW; ${seconds} s floods of one-packet UDP flows paced with trafgen -b (which spins one of the 2 cores, as the unpaced flood does); curve: `
      + points.map((p) => `${p.label}: ${fmt(p.achieved)}/s ${p.keptUp ? "kept up" : "behind"} (recorded ${p.recorded ? `${p.recordedS.toFixed(1)} s` : "—"}, closed ${p.complete ? `${p.completeS.toFixed(1)} s` : "—"}, ${p.recovered} NEW lost)`).join("; "),
  }];
  for (const p of points) {
    figures.push({
      id: `tl-keep-up-${p.label}`, section: "translation log", title: `translation log at ${p.label === "max" ? "the unpaced maximum" : `${p.label} flows/s asked`}: time after the flood until every flow has its record`,
      value: round(p.recordedS, 1), unit: "s", target: `≤ ${KEEP_UP_SECONDS} s, 0 NEW lost`, met: p.keptUp,
      notes: `achieved ${fmt(p.achieved)}/s over ${p.seconds.toFixed(1)} s; ${fmt(p.flows)} flows, ${fmt(p.records)} records, ${p.recovered} NEW recovered at destroy; `
        + `at the flood's end ${(p.lagMs / 1000).toFixed(1)} s / ${p.behindMB.toFixed(1)} MiB of spool behind; ${p.recorded ? "" : "not all recorded at the bound; "}`
        + `${p.complete ? `all closed after ${p.completeS.toFixed(1)} s` : "not all closed at the bound"}; `
        + `CPU per 1,000 flows: ulogd ${(p.ulogdCpu / p.flows * 1000 * 1000).toFixed(1)} ms, ingest ${(p.ingestCpu / p.flows * 1000 * 1000).toFixed(1)} ms`,
    });
  }
  return figures;
}

/** Figure 4: one destination (ip, port) through one egress IP, the log on: the tally sees the range fill, the kernel refuses more. */
async function portExhaustion(topo: BenchTopology, pipeline: TranslationLogPipeline, options: TranslationLogBenchOptions): Promise<Figure[]> {
  await topo.gateway.sysctl({ ...LOG_SYSCTLS(true), "net.netfilter.nf_conntrack_udp_timeout": 120, "net.netfilter.nf_conntrack_udp_timeout_stream": 120 });
  const sources = ["10.128.0.4", "10.128.0.5", "10.128.0.6", "10.128.0.7"];
  for (const source of sources.filter((s) => s !== BENCH_ADDR.client)) await topo.client.ip(["addr", "add", `${source}/32`, "dev", "eth0"]);
  await pipeline.startUlogd();
  if (!await settle(topo, pipeline, options.quick ? 30_000 : 120_000)) options.log("  port exhaustion: the previous phase had not settled at the bound");
  const before = await conntrackStats(topo);
  const result = await flood(topo, options.quick ? 3 : 6, { sources, destinationPort: 443 });
  const after = await conntrackStats(topo);
  // The tally follows the open records: wait until its busiest destination holds what the kernel holds.
  const seen = await until(async () => Math.round((await pipeline.status(EGRESS)).maxUtilization * PORTS) >= after.entries, options.quick ? 30_000 : 90_000, 200);
  const status = await pipeline.status(EGRESS);
  await pipeline.stopUlogd();
  const insertFailed = after.insertFailed - before.insertFailed;
  options.log(`  port exhaustion: ${fmt(result.sent)} flows asked, ${fmt(after.entries)} in conntrack, ${fmt(status.openInTally)} open in the tally `
    + `(${seen.met ? `after ${(seen.afterMs / 1000).toFixed(1)} s` : "not all at the bound"}), max utilization ${status.maxUtilization.toFixed(4)}, insert_failed +${fmt(insertFailed)}`);
  return [{
    id: "tl-port-utilization", section: "translation log", title: "port tally: busiest destination's utilization of one egress IP, flooding one destination (ip, port)",
    value: round(status.maxUtilization, 4), unit: "of 64,512", target: "≥ 0.99", met: status.maxUtilization >= 0.99,
    notes: `${fmt(status.openInTally)} open connections in the tally, ${fmt(after.entries)} in conntrack; 4 client addresses to ${BENCH_ADDR.server}:443, UDP timeout 120 s; `
      + "source ports below 1024 map into 1-1023 and count against the same 64,512, so the value can pass 1",
  }, {
    id: "tl-port-insert-failed", section: "translation log", title: "kernel insert_failed while the flood asks for more ports than one egress IP has",
    value: insertFailed, unit: "connections", baseline: { title: "ports of one egress IP", value: PORTS, unit: "ports" },
    target: "rises (> 0)", met: insertFailed > 0,
    notes: `${fmt(result.sent)} new flows asked for in ${result.seconds.toFixed(1)} s, ${fmt(result.received)} reached the server; conntrack -S summed over CPUs`,
  }];
}

/**
 * The translation log in its pipeline (figures of shared/performance.md, "Translation log"): the cost of the log on
 * the new-connection rate, the highest rate it keeps up with (a curve), bytes per record as stored, and the port
 * tally at exhaustion. Everything in namespaces of its own, removed at the end. EGW_BENCH_CPU_PROF=DIR profiles the
 * ingest process (node --cpu-prof).
 */
export async function benchTranslationLog(options: TranslationLogBenchOptions): Promise<Figure[]> {
  const topo = await buildBenchTopology();
  let pipeline: TranslationLogPipeline | undefined;
  try {
    await staticSnat(topo);
    pipeline = await TranslationLogPipeline.start(topo, MAPPING, process.env["EGW_BENCH_CPU_PROF"]);
    const figures = [...await onOff(topo, pipeline, options), ...await keepUp(topo, pipeline, options)];
    const stored = await pipeline.status(EGRESS);
    options.log(`  store: ${fmt(stored.records)} records, ${fmt(stored.sizeBytes)} bytes in its files, ${fmt(stored.usedBytes)} in use`);
    if (stored.records > 0) {
      figures.push({
        id: "tl-pipeline-bytes-per-record", section: "translation log", title: `bytes on disk per record, as the pipeline stored ${fmt(stored.records)} flood flows`,
        value: round(stored.sizeBytes / stored.records, 0), unit: "bytes", target: "report", met: null,
        notes: `store file and WAL ÷ records; rows and indexes alone: ${round(stored.usedBytes / stored.records, 0)} bytes per record`,
      });
    }
    figures.push(...await portExhaustion(topo, pipeline, options));
    return figures;
  } finally {
    await pipeline?.close();
    await topo.destroy();
  }
}
