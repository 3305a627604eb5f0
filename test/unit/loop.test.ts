import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { AppError } from "../../appliance/errors.js";
import { ReconcileLoop, type ReconcilePasses } from "../../appliance/reconcile/loop.js";
import type { ApplyReport } from "../../appliance/reconcile/reconciler.js";

/** A reconciler stand-in whose passes take a while and can be told to fail. */
class ScriptedReconciler implements ReconcilePasses {
  appliedRevision = 0;
  lastReport: ApplyReport | undefined;
  passes = 0;
  storeRevision = 1;
  failuresLeft = 0;
  constructor(private readonly passMs = 20) {}
  async reconcile(): Promise<ApplyReport> {
    this.passes++;
    const revision = this.storeRevision;
    await sleep(this.passMs);
    const report: ApplyReport = { revision, ok: true, at: new Date().toISOString(), durationMs: this.passMs, kind: "incremental" };
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      this.lastReport = { ...report, ok: false, error: "nft said no" };
      throw new Error("nft said no");
    }
    this.appliedRevision = revision;
    this.lastReport = report;
    return report;
  }
  /** What the next full drift checks answer, in turn (then []): undefined is "a pass overtook the readback". */
  driftAnswers: (string[] | undefined)[] = [];
  driftChecks: ("full" | "chains")[] = [];
  async detectDrift(): Promise<string[] | undefined> {
    this.driftChecks.push("full");
    return this.driftAnswers.length > 0 ? this.driftAnswers.shift() : [];
  }
  async detectChainDrift(): Promise<string[] | undefined> {
    this.driftChecks.push("chains");
    return [];
  }
  forgetNeighbours(): void {}
}

const options = { driftCheckIntervalMs: 60_000, retryInitialMs: 10, retryMaxMs: 40 };
const quiet = pino({ enabled: false });
const loopFor = (fake: ScriptedReconciler) => new ReconcileLoop(fake, options, quiet);

describe("ReconcileLoop", () => {
  it("checks again, in full, when a pass overtook a drift check's readback (its comparison meant nothing)", async () => {
    const fake = new ScriptedReconciler(5);
    const loop = loopFor(fake);
    loop.start();
    await loop.waitForRevision(1, 1_000);
    await loop.settled();
    fake.driftChecks = [];
    fake.driftAnswers = [undefined];
    loop.requestCheck("full");
    await loop.settled();
    assert.deepEqual(fake.driftChecks, ["full", "full"]);
    await loop.stop();
  });

  it("coalesces a burst of triggers during a pass into a single follow-up pass", async () => {
    const fake = new ScriptedReconciler(30);
    const loop = loopFor(fake);
    loop.start();
    // Wait for the condition, not a time: on a busy machine the start pass may begin later than 5 ms.
    while (fake.passes === 0) await sleep(1);
    for (let i = 0; i < 50; i++) {
      fake.storeRevision++;
      loop.trigger();
    }
    await loop.waitForRevision(fake.storeRevision, 2_000);
    assert.equal(fake.passes, 2, "the start pass plus one pass for the whole burst");
    assert.equal(loop.appliedRevision, 51);
    await loop.stop();
  });

  it("resolves a waiter only once its revision is applied", async () => {
    const fake = new ScriptedReconciler(10);
    const loop = loopFor(fake);
    loop.start();
    await loop.waitForRevision(1, 1_000);
    fake.storeRevision = 2;
    let resolved = false;
    const waiting = loop.waitForRevision(2, 1_000).then(() => (resolved = true));
    assert.equal(resolved, false);
    loop.trigger();
    await waiting;
    assert.equal(loop.appliedRevision, 2);
    await loop.stop();
  });

  it("rejects waiters with apply-failed when the pass covering them fails, then retries with backoff until it succeeds", async () => {
    const fake = new ScriptedReconciler(5);
    fake.failuresLeft = 3;
    const loop = loopFor(fake);
    const reports: boolean[] = [];
    loop.onReport = (report) => reports.push(report.ok);
    loop.start();
    await assert.rejects(loop.waitForRevision(1, 1_000), (error: unknown) => error instanceof AppError && error.code === "apply-failed" && /nft said no/.test(error.message));
    const deadline = Date.now() + 2_000;
    while (loop.appliedRevision < 1 && Date.now() < deadline) await sleep(5);
    assert.equal(loop.appliedRevision, 1, "the loop retried by itself");
    assert.deepEqual(reports, [false, false, false, true]);
    assert.equal(fake.passes, 4);
    await loop.stop();
  });

  it("rejects with apply-timeout when the revision is not applied in time", async () => {
    const fake = new ScriptedReconciler(200);
    const loop = loopFor(fake);
    loop.start();
    fake.storeRevision = 9;
    await assert.rejects(loop.waitForRevision(9, 30), (error: unknown) => error instanceof AppError && error.code === "apply-timeout" && error.status === 504);
    await loop.stop();
  });

  it("runs one pass for triggers that arrive in the same turn of the event loop", async () => {
    const fake = new ScriptedReconciler(5);
    const loop = loopFor(fake);
    loop.start();
    for (let i = 0; i < 20; i++) loop.trigger();
    await loop.waitForRevision(1, 1_000);
    await sleep(30);
    assert.equal(fake.passes, 1);
    await loop.stop();
  });

  it("stop() waits for the pass in progress and schedules nothing afterwards", async () => {
    const fake = new ScriptedReconciler(40);
    const loop = loopFor(fake);
    loop.start();
    await sleep(5);
    await loop.stop();
    assert.equal(fake.appliedRevision, 1, "the pass in progress finished");
    loop.trigger();
    await sleep(60);
    assert.equal(fake.passes, 1);
  });
});
