import type { MiddlewareHandler } from "hono";
import { AppError } from "../../appliance/errors.js";

export interface BodyLimitOptions {
  maxBytes: number;
  /** What the limit applies to, for the problem's detail. */
  what: string;
  /** How much of a refused body is read and dropped, at most, so that its sender gets to read the 413. */
  drainBytes?: number;
  /** How long, at most, a refused body is read and dropped. */
  drainMs?: number;
}

/**
 * Small on purpose: refusals before authentication drain too, so these bound what anyone can make the
 * daemon read for nothing. A refused body larger than this is not read at all; its connection is closed.
 */
const DEFAULT_DRAIN_BYTES = 4 * 1024 * 1024;
const DEFAULT_DRAIN_MS = 2_000;
/** Drains in progress at once, in the whole process; a refusal beyond it is answered at once and closes. */
export const MAX_CONCURRENT_DRAINS = 16;
const FIRST_BUFFER_BYTES = 16 * 1024;

let drainsInProgress = 0;

/** How many refused bodies are being read and dropped right now (for tests and metrics). */
export function drainsUnderway(): number {
  return drainsInProgress;
}

/**
 * Refuses a body over `maxBytes` with a 413 its sender can read. A client still sending when the answer
 * comes and the connection closes sees EPIPE or ECONNRESET instead of the answer (Node's http client
 * does), so the rest of a refused body is first read and dropped — bounded in bytes, time and drains at
 * once, past which the connection is closed anyway — and the 413 says `Connection: close`. A declared
 * Content-Length over the limit is refused before any of the body is kept; a chunked body is copied into
 * one buffer as it arrives (memory follows its bytes, not its chunks) and kept only while under the limit.
 */
export function bodyLimit(options: BodyLimitOptions): MiddlewareHandler {
  const drainBytes = options.drainBytes ?? DEFAULT_DRAIN_BYTES;
  const drainMs = options.drainMs ?? DEFAULT_DRAIN_MS;
  const tooLarge = (size: string) => new AppError("payload-too-large", `${options.what} is larger than ${options.maxBytes} bytes (${size})`,
    { headers: { Connection: "close" } });
  return async (c, next) => {
    // A GET or HEAD never has a body; asking the request for one would build a whole fetch Request for nothing.
    if (bodyless(c.req.method)) return next();
    const body = c.req.raw.body;
    if (body === null) return next();
    const declared = c.req.header("content-length");
    if (declared !== undefined) {
      if (Number(declared) <= options.maxBytes) return next();
      await drain(body.getReader(), drainBytes, drainMs, Number(declared));
      throw tooLarge(`Content-Length: ${declared}`);
    }
    const reader = body.getReader();
    let kept = Buffer.allocUnsafe(Math.min(FIRST_BUFFER_BYTES, options.maxBytes));
    let size = 0;
    for (;;) {
      const { done, value } = await readOrCutShort(reader);
      if (done) break;
      if (size + value.byteLength > options.maxBytes) {
        await drain(reader, drainBytes, drainMs, Number.NaN);
        throw tooLarge("sent without Content-Length");
      }
      if (size + value.byteLength > kept.length) {
        const grown = Buffer.allocUnsafe(Math.min(Math.max(kept.length * 2, size + value.byteLength), options.maxBytes));
        kept.copy(grown, 0, 0, size);
        kept = grown;
      }
      kept.set(value, size);
      size += value.byteLength;
    }
    c.req.raw = new Request(c.req.raw, { body: kept.subarray(0, size) });
    return next();
  };
}

/**
 * GET and HEAD requests carry no body here (Node's server gives them none, fetch refuses one). The method is
 * read from the incoming message itself, while `c.req.raw.body` makes @hono/node-server build a full fetch
 * Request (headers, abort signal), about a tenth of what a GET of one mapping costs.
 */
function bodyless(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/** A client that goes away mid-body is a bad request, not the daemon's failure (no 500, no error log). */
async function readOrCutShort(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<ReadableStreamReadResult<Uint8Array>> {
  try {
    return await reader.read();
  } catch {
    reader.cancel().catch(() => undefined);
    throw new AppError("malformed-json", "the request body was cut short: the client stopped sending before its end");
  }
}

/**
 * Any other refusal (401, 403, 415, 429…) of a request whose body was never read: the body is read and
 * dropped (bounded, as for a 413) before the answer goes out, so that a client still sending reads the
 * refusal instead of a reset connection. A body not drained to its end closes the connection.
 */
export function drainRefusedBodies(options: Pick<BodyLimitOptions, "drainBytes" | "drainMs"> = {}): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.res.status < 400 || bodyless(c.req.method)) return;
    const body = c.req.raw.body;
    if (body === null || c.req.raw.bodyUsed || body.locked) return;
    const declared = c.req.header("content-length");
    const ended = await drain(body.getReader(), options.drainBytes ?? DEFAULT_DRAIN_BYTES, options.drainMs ?? DEFAULT_DRAIN_MS,
      declared === undefined ? Number.NaN : Number(declared));
    if (ended) return;
    try {
      c.res.headers.set("Connection", "close");
    } catch {
      // An answer with immutable headers (one passed through from fetch): copy it once to say so.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set("Connection", "close");
    }
  };
}

/**
 * Reads and drops the rest of a body, until its end, `maxBytes` or `maxMs`, whichever comes first; says
 * whether it reached the end. A body declared larger than `maxBytes`, or one that finds all drain slots
 * taken, is not read at all. One timer cancels the reader when time is up: racing each read against a
 * timeout instead would leave a reaction per read on the pending timeout, which a stream of 1-byte
 * chunks turns into hundreds of bytes kept per byte sent.
 */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number, maxMs: number, declaredBytes: number): Promise<boolean> {
  if (declaredBytes > maxBytes || drainsInProgress >= MAX_CONCURRENT_DRAINS) {
    reader.cancel().catch(() => undefined);
    return false;
  }
  drainsInProgress += 1;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => undefined);
  }, maxMs);
  let read = 0;
  try {
    while (read <= maxBytes) {
      const next = await reader.read();
      if (next.done) return !timedOut;
      read += next.value.byteLength;
    }
    return false;
  } catch {
    // The client went away: nothing left to drain.
    return true;
  } finally {
    drainsInProgress -= 1;
    clearTimeout(timer);
    reader.cancel().catch(() => undefined);
  }
}
