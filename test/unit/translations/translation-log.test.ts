import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { configSchema } from "../../../appliance/config/schema.js";
import { AppError } from "../../../appliance/errors.js";
import { TranslationLog } from "../../../appliance/translations/translation-log.js";
import type { UlogdProcess } from "../../../appliance/translations/ulogd-supervision.js";
import type { TranslationLogStore } from "../../../appliance/translation-model.js";
import { FakeSystem } from "../../helpers/fake-system.js";

/** A ulogd that never gets to run (the binary missing, or still restarting after a crash). */
class UlogdThatNeverRuns extends EventEmitter implements UlogdProcess {
  started = 0;
  start(): void {
    this.started++;
  }
  async stop(): Promise<void> {}
  signal(): boolean {
    return false;
  }
}

function setup(directory: string) {
  const system = new FakeSystem();
  system.sysctls.values.set("kernel/random/boot_id", "6f1c0e4a-0000-4000-8000-000000000001");
  system.sysctls.values.set("net/netfilter/nf_conntrack_acct", "0");
  system.sysctls.values.set("net/netfilter/nf_conntrack_timestamp", "0");
  const config = configSchema.parse({
    gateway: { name: "gw-1" }, api: { adminTokenFile: "admin.token" }, database: { path: join(directory, "egw.db") },
    network: { inside: { interface: "eth1" }, outside: { interface: "eth2" } },
    translationLog: { enabled: true, directory: join(directory, "translations") },
  });
  const ulogd = new UlogdThatNeverRuns();
  const log = new TranslationLog({ config, system: system.asSystem(), log: pino({ enabled: false }), mappings: () => ({ revision: 0, mappings: [] }), ulogd: () => ulogd });
  return { system, log, ulogd };
}

describe("TranslationLog (the composition the daemon starts)", () => {
  it("turns on conntrack accounting and timestamps, and reports not-running while ulogd does not run", async () => {
    const directory = mkdtempSync(join(tmpdir(), "egw-tl-"));
    const { system, log, ulogd } = setup(directory);
    try {
      const started = Date.now();
      log.start();
      assert.equal(ulogd.started, 1);
      assert.equal(system.sysctls.values.get("net/netfilter/nf_conntrack_acct"), "1");
      assert.equal(system.sysctls.values.get("net/netfilter/nf_conntrack_timestamp"), "1");
      assert.equal(log.status()?.state, "not-running", "a caught-up ingest with no ulogd behind it records nothing: up must be 0");
      assert.ok(log.warnings().some((w) => w.includes("not recording (not-running)")));
      ulogd.emit("spawn", 1234);
      assert.equal(log.status()?.state, "running");
      assert.deepEqual((await log.query({ egressAddress: "203.0.113.10", fromMs: started - 1_000, toMs: Date.now() + 1_000, limit: 10 })).gaps.map((g) => [g.reason, g.toMs !== null]), [["not-running", true]],
        "the time before ulogd ran is a recorded gap");
    } finally {
      await log.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("after ulogd (re)starts, closes the open records whose connections the kernel no longer holds", async () => {
    const directory = mkdtempSync(join(tmpdir(), "egw-tl-"));
    const { system, log, ulogd } = setup(directory);
    try {
      log.start();
      ulogd.emit("spawn", 1);
      const store = (log as unknown as { store: TranslationLogStore }).store;
      const event = (podPort: number, egressPort: number) => ({
        kind: "new" as const, conntrackId: podPort, protocol: "tcp" as const, protocolNumber: 6, family: 4 as const,
        podAddress: "10.244.1.5", podPort, destinationAddress: "203.0.113.200", destinationPort: 8081,
        egressAddress: "203.0.113.10", egressPort, startMs: Date.now() - 60_000, cluster: "prod", mapping: "app-a",
      });
      store.commit([event(40_000, 40_123), event(40_001, 40_124)], { file: "spool.json", offset: 100 });
      for (const record of store.openRecords()) log.tally.opened(record);
      // The kernel still holds the first; the second ended while ulogd was down.
      system.conntrackListing = "ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.1.5 dst=203.0.113.200 sport=40000 dport=8081 src=203.0.113.200 dst=203.0.113.10 sport=8081 dport=40123 [ASSURED] mark=0 use=1\n";
      assert.equal(await log.closeWhatTheKernelNoLongerHolds(), 1);
      const open = [...store.openRecords()].map((r) => r.podPort);
      assert.deepEqual(open, [40_000]);
      const page = await log.query({ egressAddress: "203.0.113.10", egressPort: 40_124, fromMs: Date.now() - 120_000, toMs: Date.now() + 1_000, limit: 10 });
      assert.equal(page.records[0]?.endReason, "log-interrupted");
      assert.equal(log.tally.forEgress("203.0.113.10").busiest[0]?.inUse, 1, "the port tally no longer counts it");
      assert.ok(system.callsOf("conntrack", "-L").length >= 1);
    } finally {
      await log.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("a log whose store cannot open fails alone: start does not throw, status says failed, lookups answer not-ready", async () => {
    const directory = mkdtempSync(join(tmpdir(), "egw-tl-"));
    // A file where the log's directory should be: its store cannot be created there.
    writeFileSync(join(directory, "translations"), "not a directory");
    const { log } = setup(directory);
    try {
      assert.doesNotThrow(() => log.start());
      const status = log.status();
      assert.equal(status?.state, "failed");
      assert.match(String(status?.error), /translations/);
      assert.ok(log.warnings().some((w) => w.includes("not recording (failed")));
      await assert.rejects(log.query({ egressAddress: "203.0.113.10", atMs: Date.now(), limit: 10 }), (error: unknown) => error instanceof AppError && error.code === "not-ready");
    } finally {
      await log.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
