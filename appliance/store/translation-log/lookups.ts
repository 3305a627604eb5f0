import { Worker } from "node:worker_threads";
import { AppError, ERROR_CATALOGUE, type ErrorCode } from "../../errors.js";
import type { TranslationPage, TranslationQuery } from "../../translation-model.js";
import type { LookupReady, LookupReply, LookupWorkerData } from "./lookup-protocol.js";

export interface TranslationLookupsOptions {
  /** This gateway's name: every record read back carries it. */
  gateway: string;
  /** How long one lookup may run before its worker is stopped and the lookup answered "lookup-too-costly". */
  budgetMs?: number;
  /** Lookups that may wait behind the running one; one more is refused "rate-limited". */
  queueLimit?: number;
  log?: { warn(object: object, message: string): void };
  /** Tests only: how long the worker of each generation (0, 1, …) spins before every lookup. */
  delayForTestsMs?: (generation: number) => number;
}

interface Lookup {
  query: TranslationQuery;
  resolve(page: TranslationPage): void;
  reject(error: Error): void;
  id?: number;
  timer?: NodeJS.Timeout;
}

interface Thread {
  worker: Worker;
  ready: boolean;
}

const DEFAULT_BUDGET_MS = 3_000;
const DEFAULT_QUEUE_LIMIT = 8;

/**
 * The translation log's lookups, answered by a worker thread with its own read-only connection: a wide question
 * (a cluster's whole day toward one destination) sorts hundreds of thousands of rows, which on the daemon's one
 * thread would stall the API, the ingest and the reconcile loop alike. One lookup runs at a time (the machine has
 * two cores and the ingest needs one); a few wait; a lookup past its budget has its worker terminated (SQLite is
 * stepped row by row from JavaScript, so the thread stops between rows) and a fresh worker takes the next.
 */
export class TranslationLookups {
  private thread: Thread | undefined;
  private running: Lookup | undefined;
  private readonly waiting: Lookup[] = [];
  private nextId = 1;
  private generation = 0;
  private closed = false;
  private readonly budgetMs: number;
  private readonly queueLimit: number;

  constructor(private readonly path: string, private readonly options: TranslationLookupsOptions) {
    this.budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
    this.queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  }

  query(query: TranslationQuery): Promise<TranslationPage> {
    if (this.closed) return Promise.reject(notRunning());
    if ((this.running === undefined ? 0 : 1) + this.waiting.length > this.queueLimit) {
      const seconds = Math.max(1, Math.ceil(this.budgetMs / 1000));
      return Promise.reject(new AppError("rate-limited", `${this.queueLimit + 1} lookups of the translation log are already running or waiting; retry in ${seconds} s`,
        { headers: { "Retry-After": String(seconds) }, extra: { retryAfterSeconds: seconds } }));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ query, resolve, reject });
      this.pump();
    });
  }

  /** Stops the worker; lookups running or waiting are answered "not-ready". */
  async close(): Promise<void> {
    this.closed = true;
    for (const lookup of [...(this.running ? [this.running] : []), ...this.waiting.splice(0)]) this.finish(lookup, notRunning());
    this.running = undefined;
    const thread = this.thread;
    this.thread = undefined;
    await thread?.worker.terminate();
  }

  /** Gives the worker the next lookup once it is ready and idle; the budget runs from then. */
  private pump(): void {
    if (this.closed || this.running !== undefined || this.waiting.length === 0) return;
    const thread = this.thread ?? this.spawn();
    if (!thread.ready) return;
    const lookup = this.waiting.shift() as Lookup;
    lookup.id = this.nextId++;
    lookup.timer = setTimeout(() => this.overBudget(lookup), this.budgetMs);
    this.running = lookup;
    thread.worker.postMessage({ id: lookup.id, query: lookup.query });
  }

  private spawn(): Thread {
    const data: LookupWorkerData = { path: this.path, gateway: this.options.gateway, delayForTestsMs: this.options.delayForTestsMs?.(this.generation) ?? 0 };
    this.generation++;
    // Beside this file, in dist/ as in the package's /usr/lib/egw/dist.
    const worker = new Worker(new URL("./lookup-worker.js", import.meta.url), { workerData: data });
    // The API's server keeps the daemon alive; an idle worker must not keep a finished process from exiting.
    worker.unref();
    const thread: Thread = { worker, ready: false };
    this.thread = thread;
    worker.on("message", (message: LookupReady | LookupReply) => {
      if (this.thread !== thread) return;
      if ("ready" in message) {
        if (message.ready) {
          thread.ready = true;
          this.pump();
        } else {
          this.lost(thread, new AppError("not-ready", `the translation log cannot be read: ${message.message}`));
        }
        return;
      }
      const lookup = this.running;
      if (lookup === undefined || lookup.id !== message.id) return;
      this.running = undefined;
      if ("page" in message) this.finish(lookup, undefined, message.page);
      else this.finish(lookup, failure(message.error));
      this.pump();
    });
    worker.on("error", (error) => this.lost(thread, new AppError("internal", `the translation log's lookup worker failed: ${error.message}`, { cause: error })));
    worker.on("exit", (code) => this.lost(thread, new AppError("internal", `the translation log's lookup worker exited (code ${code})`)));
    return thread;
  }

  private overBudget(lookup: Lookup): void {
    if (this.running !== lookup || !this.thread) return;
    this.options.log?.warn({ budgetMs: this.budgetMs, query: lookup.query }, "translation log: a lookup ran past its budget; its worker is restarted");
    this.running = undefined;
    const { worker } = this.thread;
    this.thread = undefined;
    void worker.terminate();
    this.finish(lookup, new AppError("lookup-too-costly", `the lookup did not finish within ${this.budgetMs} ms and was stopped: narrow the question `
      + "(an egress IP with its port, a pod address, or a shorter time range)", { extra: { budgetMs: this.budgetMs } }));
    this.pump();
  }

  /** The worker died or could not open the file: the running lookup fails, the next gets a fresh worker. */
  private lost(thread: Thread, error: Error): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    void thread.worker.terminate();
    const failed = this.running ?? (thread.ready ? undefined : this.waiting.shift());
    this.running = undefined;
    if (failed) this.finish(failed, error);
    this.pump();
  }

  private finish(lookup: Lookup, error: Error | undefined, page?: TranslationPage): void {
    clearTimeout(lookup.timer);
    if (error) lookup.reject(error);
    else lookup.resolve(page as TranslationPage);
  }
}

function notRunning(): AppError {
  return new AppError("not-ready", "the translation log is not running");
}

function failure(error: { code?: string; message: string; fields?: { field: string; reason: string }[] }): Error {
  if (error.code !== undefined && error.code in ERROR_CATALOGUE) return new AppError(error.code as ErrorCode, error.message, { fields: error.fields ?? [] });
  return new Error(error.message);
}
