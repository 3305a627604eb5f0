import type { Logger } from "pino";
import { AppError, errorMessage } from "../errors.js";
import type { ApplyReport } from "./reconciler.js";

export interface LoopOptions {
  driftCheckIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** First delay before re-reading unresolved next-hop MACs (doubles up to 5 s). Default 100 ms. */
  resolveRetryMs?: number;
}

/** "chains": list our base chains only (cheap); "full": read the whole kernel state back. */
export type CheckKind = "chains" | "full";

/** What the loop drives: the reconciler (reconciler.ts), or a test's stand-in. */
export interface ReconcilePasses {
  /** The newest store revision that is live in the kernel. */
  readonly appliedRevision: number;
  readonly lastReport: ApplyReport | undefined;
  /** One pass: brings the kernel to the newest revision; throws when it could not, leaving lastReport to say why. */
  reconcile(): Promise<ApplyReport>;
  /**
   * What differs between the kernel and what was applied: the whole table, or only our base chains (cheap).
   * Undefined: a pass changed the table while it was read back, so the comparison means nothing; ask again.
   */
  detectDrift(): Promise<string[] | undefined>;
  detectChainDrift(): Promise<string[] | undefined>;
  /** Drops what is known of the next hops' MACs, so the next pass reads them again. */
  forgetNeighbours(): void;
}

interface Waiter {
  revision: number;
  resolve: () => void;
  reject: (error: AppError) => void;
  timer: NodeJS.Timeout;
}

/**
 * Drives the reconciler: once at start, after every committed change (a burst of commits coalesces
 * into one pass, because a pass always applies the newest revision), on a drift timer, and again with
 * exponential backoff after a failure. Only one pass runs at a time.
 */
export class ReconcileLoop {
  private running = false;
  private pending = false;
  private stopped = true;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private driftTimer: NodeJS.Timeout | undefined;
  private resolveTimer: NodeJS.Timeout | undefined;
  private resolveAttempts = 0;
  /** A check asked for while a pass ran: done once the passes are over. */
  private deferredCheck: CheckKind | undefined;
  /** A check waiting for the one in progress; a burst of events (a flush deletes dozens of objects) shares it. */
  private queuedCheck: CheckKind | undefined;
  private checking: Promise<void> = Promise.resolve();
  private waiters: Waiter[] = [];
  private idle: Promise<void> = Promise.resolve();
  onReport: ((report: ApplyReport) => void) | undefined;
  onDrift: ((drift: string[]) => void) | undefined;

  constructor(private readonly reconciler: ReconcilePasses, private readonly options: LoopOptions, private readonly log: Logger) {}

  get appliedRevision(): number {
    return this.reconciler.appliedRevision;
  }

  get lastReport(): ApplyReport | undefined {
    return this.reconciler.lastReport;
  }

  start(): void {
    this.stopped = false;
    this.trigger();
    this.driftTimer = setInterval(() => void this.checkDrift(), this.options.driftCheckIntervalMs);
    this.driftTimer.unref();
  }

  /** Stops scheduling; a pass in progress finishes so the kernel is never left mid-change. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.driftTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.resolveTimer);
    await this.idle;
    await this.checking;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new AppError("not-ready", "the daemon is shutting down; the change is stored and will be applied on start"));
    }
  }

  /** Resolves once no pass runs and no check is waiting (what a pass or check triggered is waited for too). */
  async settled(): Promise<void> {
    while (this.running || this.queuedCheck !== undefined || this.deferredCheck !== undefined) {
      await this.idle;
      await this.checking;
    }
    await this.checking;
    if (this.running) await this.settled();
  }

  trigger(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.running = true;
    this.idle = this.runPasses();
  }

  /**
   * A pass that changes nothing never waits on I/O, so started synchronously it would run once per write,
   * inside the write's own request. Yielding to the event loop first lets every request already waiting be
   * stored before one pass applies them all.
   */
  private async yieldFirst(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Resolves once `revision` is live in the kernel; rejects when a pass covering it fails or time runs out. */
  waitForRevision(revision: number, timeoutMs: number): Promise<void> {
    if (this.appliedRevision >= revision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        revision, resolve, reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          const last = this.lastReport;
          reject(new AppError("apply-timeout",
            `revision ${revision} is stored but was not applied within ${timeoutMs} ms${last?.error ? `; last apply error: ${last.error}` : ""}`,
            { extra: { revision, appliedRevision: this.appliedRevision } }));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * `running` is cleared in the same synchronous step as the last `pending` check, so a trigger that
   * arrives while a pass settles its waiters is never lost.
   */
  private async runPasses(): Promise<void> {
    await this.yieldFirst();
    do {
      this.pending = false;
      await this.onePass();
    } while (this.pending && !this.stopped);
    this.running = false;
    const check = this.deferredCheck;
    this.deferredCheck = undefined;
    if (check) this.requestCheck(check);
  }

  /**
   * Someone changed our table (a monitor saw it): check now and repair what differs. While a pass runs, its
   * own changes show up as events too, so the request is deferred and downgraded to one cheap check after.
   */
  requestCheck(kind: CheckKind): void {
    if (this.stopped) return;
    if (this.running) {
      this.deferredCheck ??= "chains";
      return;
    }
    if (this.queuedCheck !== undefined) {
      if (kind === "full") this.queuedCheck = "full";
      return;
    }
    this.queuedCheck = kind;
    this.checking = this.checking.then(() => {
      const queued = this.queuedCheck;
      this.queuedCheck = undefined;
      return queued === undefined ? undefined : this.runCheck(queued);
    });
  }

  private async runCheck(kind: CheckKind): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      this.deferredCheck ??= "chains";
      return;
    }
    await this.repairIfDrifted(kind, () => (kind === "full" ? this.reconciler.detectDrift() : this.reconciler.detectChainDrift()));
  }

  private async onePass(): Promise<void> {
    try {
      const report = await this.reconciler.reconcile();
      this.failures = 0;
      if (report.kind !== "none") this.log.info({ revision: report.revision, kind: report.kind, durationMs: Math.round(report.durationMs) }, "data plane applied");
      this.onReport?.(report);
      this.settleWaiters();
      this.scheduleResolveRetry(report.unresolvedNextHops ?? []);
    } catch (error) {
      this.failures++;
      const report = this.lastReport;
      if (report) this.onReport?.(report);
      this.failWaiters(report?.revision ?? 0, errorMessage(error));
      const delay = Math.min(this.options.retryInitialMs * 2 ** (this.failures - 1), this.options.retryMaxMs);
      this.log.error({ err: error, failures: this.failures, retryInMs: delay }, "data plane apply failed; the previous rules stay in force");
      if (!this.stopped) {
        this.retryTimer = setTimeout(() => this.trigger(), delay);
        this.retryTimer.unref();
      }
    }
  }

  private settleWaiters(): void {
    const applied = this.appliedRevision;
    this.waiters = this.waiters.filter((waiter) => {
      if (waiter.revision > applied) return true;
      clearTimeout(waiter.timer);
      waiter.resolve();
      return false;
    });
  }

  private failWaiters(revision: number, reason: string): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (waiter.revision > revision) return true;
      clearTimeout(waiter.timer);
      waiter.reject(new AppError("apply-failed", `revision ${waiter.revision} is stored, but applying it failed: ${reason}`,
        { extra: { revision: waiter.revision, appliedRevision: this.appliedRevision } }));
      return false;
    });
  }

  /**
   * Source binding drops a next hop's pods until its MAC is known, so an unresolved next hop is re-read
   * soon (100 ms, doubling to 5 s) rather than at the next drift check; a neighbour event usually beats it.
   */
  private scheduleResolveRetry(unresolved: string[]): void {
    clearTimeout(this.resolveTimer);
    this.resolveTimer = undefined;
    if (unresolved.length === 0 || this.stopped) {
      this.resolveAttempts = 0;
      return;
    }
    const delay = Math.min((this.options.resolveRetryMs ?? 100) * 2 ** this.resolveAttempts++, 5_000);
    this.log.debug({ unresolved, retryInMs: delay }, "next hops not resolved yet; their pods are dropped until they are");
    this.resolveTimer = setTimeout(() => {
      this.reconciler.forgetNeighbours();
      this.trigger();
    }, delay);
    this.resolveTimer.unref();
  }

  private async checkDrift(): Promise<void> {
    if (this.stopped || this.running) return;
    await this.repairIfDrifted("full", () => this.reconciler.detectDrift());
  }

  private async repairIfDrifted(kind: CheckKind, detect: () => Promise<string[] | undefined>): Promise<void> {
    try {
      const drift = await detect();
      if (drift === undefined) {
        // Overtaken by a pass: the same check once it is over (not downgraded, as a monitor's echo of our own pass is).
        if (this.running) this.deferredCheck = kind === "full" ? "full" : (this.deferredCheck ?? "chains");
        else this.requestCheck(kind);
        return;
      }
      if (drift.length > 0) {
        this.onDrift?.(drift);
        this.log.warn({ drift }, "kernel state drifted from what the daemon applied; repairing");
        this.trigger();
      }
    } catch (error) {
      this.log.error({ err: error }, "drift check failed");
    }
  }
}
