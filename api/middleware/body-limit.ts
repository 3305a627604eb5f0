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

const DEFAULT_DRAIN_BYTES = 64 * 1024 * 1024;
const DEFAULT_DRAIN_MS = 10_000;

/**
 * Refuses a body over `maxBytes` with a 413 its sender can read. A client still sending when the answer
 * comes and the connection closes sees EPIPE or ECONNRESET instead of the answer (Node's http client
 * does), so the rest of a refused body is first read and dropped — bounded in bytes and time, past which
 * the connection is closed anyway — and the 413 says `Connection: close`. A declared Content-Length over
 * the limit is refused before any of the body is kept; a chunked body is counted as it arrives and kept
 * only while under the limit.
 */
export function bodyLimit(options: BodyLimitOptions): MiddlewareHandler {
  const drainBytes = options.drainBytes ?? DEFAULT_DRAIN_BYTES;
  const drainMs = options.drainMs ?? DEFAULT_DRAIN_MS;
  const tooLarge = (size: string) => new AppError("payload-too-large", `${options.what} is larger than ${options.maxBytes} bytes (${size})`,
    { headers: { Connection: "close" } });
  return async (c, next) => {
    const body = c.req.raw.body;
    if (body === null) return next();
    const declared = c.req.header("content-length");
    if (declared !== undefined) {
      if (Number(declared) <= options.maxBytes) return next();
      await drain(body.getReader(), drainBytes, drainMs);
      throw tooLarge(`Content-Length: ${declared}`);
    }
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > options.maxBytes) {
        await drain(reader, drainBytes, drainMs);
        throw tooLarge("sent without Content-Length");
      }
      chunks.push(value);
    }
    c.req.raw = new Request(c.req.raw, { body: Buffer.concat(chunks) });
    return next();
  };
}

/**
 * Any other refusal (401, 403, 415, 429…) of a request whose body was never read: the body is read and
 * dropped (bounded, as for a 413) before the answer goes out, so that a client still sending reads the
 * refusal instead of a reset connection. A body cut short at the bound closes the connection.
 */
export function drainRefusedBodies(options: Pick<BodyLimitOptions, "drainBytes" | "drainMs"> = {}): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const body = c.req.raw.body;
    if (c.res.status < 400 || body === null || c.req.raw.bodyUsed || body.locked) return;
    const ended = await drain(body.getReader(), options.drainBytes ?? DEFAULT_DRAIN_BYTES, options.drainMs ?? DEFAULT_DRAIN_MS);
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
 * whether it reached the end.
 */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number, maxMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<"time-up">((resolve) => {
    timer = setTimeout(() => resolve("time-up"), maxMs);
  });
  let read = 0;
  try {
    while (read <= maxBytes) {
      const next = await Promise.race([reader.read(), timeUp]);
      if (next === "time-up") return false;
      if (next.done) return true;
      read += next.value.byteLength;
    }
    return false;
  } catch {
    // The client went away: nothing left to drain.
    return true;
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => undefined);
  }
}
