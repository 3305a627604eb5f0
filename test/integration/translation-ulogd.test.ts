import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import { BENCH_ADDR, buildBenchTopology, flood, type BenchTopology } from "../../bench/lib/bench-topology.js";
import { configSchema } from "../../appliance/config/schema.js";
import type { Mapping } from "../../appliance/model.js";
import { HostSpoolFiles } from "../../appliance/system/spool.js";
import { Attribution } from "../../appliance/translations/attribution.js";
import { GapKeeper } from "../../appliance/translations/gaps.js";
import { TranslationIngest } from "../../appliance/translations/ingest.js";
import { renderUlogdConfig } from "../../appliance/translations/ulogd-config.js";
import { MemoryTranslationStore } from "../helpers/memory-translation-store.js";

const isRoot = process.getuid?.() === 0;
const EGRESS = BENCH_ADDR.egress[0];
const MAPPING: Mapping = { cluster: "blue", name: "web", sourceCidr: BENCH_ADDR.clientPrefix, egressIp: EGRESS, destinations: [], excludedDestinations: [], labels: {} };

/** Polls a condition (no fixed sleep stands in for it); fails with what it saw last. */
async function until(condition: () => boolean, what: () => string, timeoutMs: number, pollMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out: ${what()}`);
    await sleep(pollMs);
  }
}

/**
 * The kernel reaps expired connections at its garbage collector's pace (up to a minute after a flood); a table dump
 * evicts the expired ones at once, each with its ordinary destroy event. While a test waits for ends, it dumps the
 * gateway's table every second, so the wait does not depend on that pace.
 */
function reapExpired(topo: BenchTopology): () => void {
  const timer = setInterval(() => void topo.gateway.exec("conntrack", ["-L"], { reject: false, stdout: "ignore" }), 1_000);
  return () => clearInterval(timer);
}

describe("translation log: real ulogd → spool → ingest", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: BenchTopology;
  let store: MemoryTranslationStore;
  let ingest: TranslationIngest;
  let ulogdOutput = "";

  before(async () => {
    topo = await buildBenchTopology();
    const { gateway, server, workDir } = topo;
    writeFileSync(join(workDir, "snat.nft"), `table ip t {\n chain p {\n  type nat hook postrouting priority 100;\n  oifname "outside" snat to ${EGRESS}\n }\n}\n`);
    await gateway.exec("nft", ["-f", join(workDir, "snat.nft")]);
    await gateway.sysctl({ "net.netfilter.nf_conntrack_acct": 1, "net.netfilter.nf_conntrack_timestamp": 1, "net.netfilter.nf_conntrack_tcp_timeout_time_wait": 1 });
    // The bench server drops (and counts) UDP at ingress; the echo port below must reach its socket.
    await server.exec("nft", ["insert", "rule", "netdev", "bench", "ingress", "udp", "dport", "5353", "accept"]);

    const spoolPath = join(workDir, "spool.json");
    const configPath = join(workDir, "ulogd.conf");
    const logConfig = configSchema.shape.translationLog.parse({});
    writeFileSync(configPath, renderUlogdConfig(logConfig, { spoolPath, generatedFor: "test" }));
    const ulogd = gateway.spawn("ulogd", ["-c", configPath], { all: true, buffer: false, reject: false });
    ulogd.all?.on("data", (chunk: Buffer) => void (ulogdOutput += chunk.toString()));
    await until(() => ulogdOutput.includes("working in event mode"), () => `ulogd to subscribe; it said: ${ulogdOutput}`, 10_000);

    store = new MemoryTranslationStore();
    const log = pino({ enabled: false });
    const attribution = new Attribution([MAPPING]);
    ingest = new TranslationIngest({
      store, spool: new HostSpoolFiles(), spoolPath, attribution: () => attribution, sinks: [], gaps: new GapKeeper(store, log), log,
      clock: Date.now, signalUlogd: (signal) => ulogd.kill(signal), onDiskFull: () => {},
      limits: { maxBatchEvents: 5_000, chunkBytes: 4 * 1024 * 1024, rotateAtBytes: 8 * 1024 * 1024, minFreeBytes: 0 },
    });
    ingest.start();
  });

  after(async () => {
    ingest?.stop();
    await topo?.destroy();
  });

  it("records every TCP and UDP connection with the egress port the server saw, and closes it at its end", async () => {
    const server = topo.server.spawn("node", ["-e", `
      const net = require("net"), dgram = require("dgram");
      net.createServer((s) => s.end(s.remotePort + "\\n")).listen(8080, "${BENCH_ADDR.server}");
      const u = dgram.createSocket("udp4"); u.on("message", (m, r) => u.send(String(r.port), r.port, r.address)); u.bind(5353, "${BENCH_ADDR.server}");
      console.log("ready");`], { all: true, buffer: false });
    let serverSaid = "";
    server.all?.on("data", (chunk: Buffer) => void (serverSaid += chunk.toString()));
    await until(() => serverSaid.includes("ready"), () => serverSaid, 10_000);
    const { stdout } = await topo.client.exec("node", ["-e", `
      const net = require("net"), dgram = require("dgram");
      const tcp = () => new Promise((done) => { const s = net.connect(8080, "${BENCH_ADDR.server}"); let seen = "";
        s.on("data", (d) => seen += d); s.on("end", () => { done(["tcp", s.localPort, Number(seen)]); s.end(); }); });
      const udp = () => new Promise((done) => { const u = dgram.createSocket("udp4");
        u.on("message", (m) => { done(["udp", u.address().port, Number(String(m))]); u.close(); }); u.send("x", 5353, "${BENCH_ADDR.server}"); });
      (async () => { const out = []; for (let i = 0; i < 5; i++) { out.push(await tcp()); out.push(await udp()); } console.log(JSON.stringify(out)); })();`]);
    const connections = JSON.parse(stdout) as [string, number, number][];
    assert.equal(connections.length, 10);
    const recordOf = ([protocol, podPort]: [string, number, number]) =>
      store.records.find((r) => r.protocol === protocol && r.podPort === podPort && r.podAddress === BENCH_ADDR.client);
    const stopReaping = reapExpired(topo);
    try {
      await until(() => connections.every((c) => recordOf(c)?.endMs != null), () => `records: ${JSON.stringify(store.records)}`, 30_000);
    } finally {
      stopReaping();
    }
    for (const connection of connections) {
      const record = recordOf(connection);
      assert.ok(record);
      assert.deepEqual(
        [record.cluster, record.mapping, record.egressAddress, record.egressPort, record.destinationAddress, record.destinationPort, record.endReason],
        ["blue", "web", EGRESS, connection[2], BENCH_ADDR.server, connection[0] === "tcp" ? 8080 : 5353, "kernel"],
      );
      assert.ok(record.counters && record.counters.originalPackets >= 1 && record.counters.replyPackets >= 1);
    }
    assert.equal(ingest.status().eventsMalformed, 0);
  });

  it("at the limit: an unthrottled flood of one-packet UDP flows, every flow the server received ends up as a record", async () => {
    const before = store.records.length;
    // The server counts every UDP packet except those to its echo port (which the flood's random ports can hit too).
    const isFlood = (r: { protocol: string; destinationPort: number }) => r.protocol === "udp" && r.destinationPort !== 5353;
    const started = performance.now();
    const result = await flood(topo, 3);
    const floodEnded = performance.now();
    const packets = () => store.records.filter(isFlood).reduce((sum, r) => sum + (r.counters?.originalPackets ?? 0), 0);
    const flows = () => store.records.filter(isFlood);
    // Every flow is closed once its destroy is in (1 s UDP timeout); the packets they carried add up to what arrived.
    const stopReaping = reapExpired(topo);
    try {
      await until(() => flows().length > 0 && flows().every((r) => r.endMs !== null) && packets() >= result.received && ingest.status().spoolBytesBehind === 0,
        () => `received ${result.received}, records ${flows().length}, still open ${flows().filter((r) => r.endMs === null).length}, packets in records ${packets()}, status ${JSON.stringify(ingest.status())}`, 120_000, 500);
    } finally {
      stopReaping();
    }
    const caughtUp = performance.now();
    const status = ingest.status();
    console.log(JSON.stringify({
      sent: result.sent, received: result.received, floodRate: Math.round(result.received / result.seconds),
      records: flows().length, packetsInRecords: packets(), recoveredNewEvents: status.recoveredNewEvents,
      eventsIngested: status.eventsIngested, catchUpSeconds: ((caughtUp - floodEnded) / 1000).toFixed(1), totalSeconds: ((caughtUp - started) / 1000).toFixed(1),
      records_before: before,
    }));
    assert.equal(packets(), result.received, "every packet the server received belongs to a recorded flow");
    assert.ok(flows().length >= result.received * 0.999, "one-packet flows: (nearly) one record each; random port pairs may repeat within the timeout");
  });
});
