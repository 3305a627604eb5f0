import { parentPort, workerData } from "node:worker_threads";
import { AppError, errorMessage } from "../../errors.js";
import { openReadOnly } from "../database.js";
import type { LookupReady, LookupReply, LookupRequest, LookupWorkerData } from "./lookup-protocol.js";
import { TranslationLogReader } from "./reader.js";
import type { RecordRow } from "./rows.js";

/**
 * The lookup worker: answers the translation log's lookups on a thread of its own, with a read-only connection
 * beside the writer (WAL lets it read the last commit while the writer goes on). TranslationLookups starts it,
 * gives it one lookup at a time, and terminates it when a lookup runs past its budget.
 */
const data = workerData as LookupWorkerData;
const port = parentPort;
if (!port) throw new Error("lookup-worker runs as a worker thread");

let reader: TranslationLogReader | undefined;
try {
  const db = openReadOnly(data.path);
  // 16 MiB of page cache: a lookup's index pages stay in memory for the next.
  db.pragma(`cache_size = ${-16 * 1024}`);
  reader = new TranslationLogReader(db, data.gateway);
  port.postMessage({ ready: true } satisfies LookupReady);
} catch (error) {
  port.postMessage({ ready: false, message: errorMessage(error) } satisfies LookupReady);
}

/** Rows stepped one by one from JavaScript, so that terminating the thread stops the lookup between two rows. */
function stepRows(statement: { iterate(params: Record<string, unknown>): Iterable<unknown> }, params: Record<string, unknown>): RecordRow[] {
  const rows: RecordRow[] = [];
  for (const row of statement.iterate(params)) rows.push(row as RecordRow);
  return rows;
}

port.on("message", (request: LookupRequest) => {
  let reply: LookupReply;
  try {
    if (!reader) throw new Error("the lookup worker has no connection");
    if (data.delayForTestsMs > 0) {
      const until = performance.now() + data.delayForTestsMs;
      while (performance.now() < until) { /* a costly lookup, for tests */ }
    }
    reply = { id: request.id, page: reader.query(request.query, stepRows) };
  } catch (error) {
    reply = { id: request.id, error: error instanceof AppError ? { code: error.code, message: error.message, fields: error.fields } : { message: errorMessage(error) } };
  }
  port.postMessage(reply);
});
