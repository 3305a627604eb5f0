import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server as HttpServer } from "node:http";
import { connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { bodyLimit, drainRefusedBodies, drainsUnderway, MAX_CONCURRENT_DRAINS } from "../../../api/middleware/body-limit.js";
import { ADMIN_TOKEN, Harness } from "./harness.js";

/** A full collection: the runner's (--expose-gc), else switched on here (Node 20, 22 and 24 allow it). */
const gc: (() => void) | undefined = globalThis.gc ?? exposeGc();

function exposeGc(): (() => void) | undefined {
  try {
    setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}

/** Fails the memory tests alone, with the reason, when no collection can be forced. */
function requireGc(): () => void {
  if (gc === undefined) throw new Error("these memory tests need a full garbage collection: run node with --expose-gc");
  return gc;
}

/** Memory in use after a full collection (heap and array buffers): what is still kept, not garbage. */
function keptHeap(): number {
  requireGc()();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

const CHUNKS = 200_000;

/** Where the baseline is taken: after warm-up, so the code the JIT compiles for the first chunks does not count. */
const BASELINE_CHUNK = 10_000;

/**
 * A body of `CHUNKS` one-byte chunks that measures the heap kept at chunk `BASELINE_CHUNK` and at its last
 * chunk, when whatever reads it has read all the others.
 */
function tinyChunks(): { body: ReadableStream<Uint8Array>; growth: () => number } {
  requireGc();
  let sent = 0;
  let first = 0;
  let last = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === BASELINE_CHUNK) first = keptHeap();
      if (sent === CHUNKS - 1) last = keptHeap();
      if (sent === CHUNKS) {
        controller.close();
        return;
      }
      controller.enqueue(Uint8Array.of(0x61 + (sent % 26)));
      sent += 1;
    },
  }, { highWaterMark: 0 });
  return { body, growth: () => last - first };
}

function post(app: Hono, body: ReadableStream<Uint8Array>): Promise<Response> {
  return Promise.resolve(app.request("/", { method: "POST", body, duplex: "half" } as RequestInit));
}

describe("memory while reading a body of many tiny chunks", () => {
  it("drains a refused body of 200k one-byte chunks keeping no memory per chunk", async () => {
    const app = new Hono();
    app.use("*", drainRefusedBodies({ drainMs: 120_000 }));
    app.post("/", (c) => c.json({ title: "unauthorized" }, 401));
    const { body, growth } = tinyChunks();
    const answer = await post(app, body);
    assert.equal(answer.status, 401);
    assert.equal(answer.headers.get("connection"), null, "the body was drained to its end");
    // Racing each read against one pending timeout kept ~850 bytes per chunk here (170 MB); one timer keeps ~3.
    assert.ok(growth() < 30 * CHUNKS, `the drain kept ${growth()} bytes for ${CHUNKS} chunks`);
  });

  it("keeps a body of 200k one-byte chunks under the limit whole and in order, in memory that follows its bytes", async () => {
    const app = new Hono();
    app.post("/", bodyLimit({ maxBytes: 1024 * 1024, what: "the body" }), async (c) => c.text(await c.req.text()));
    const { body, growth } = tinyChunks();
    const answer = await post(app, body);
    assert.equal(answer.status, 200);
    const expected = Array.from({ length: CHUNKS }, (_, i) => String.fromCharCode(0x61 + (i % 26))).join("");
    assert.equal(await answer.text(), expected);
    // One array entry per chunk kept ~70 bytes per byte here (~250 over a socket); one growing buffer keeps ~10.
    assert.ok(growth() < 30 * CHUNKS, `the limit kept ${growth()} bytes for a ${CHUNKS}-byte body`);
  });
});

describe("a client that goes away in the middle of its body", () => {
  it("gets a 400, not a 500", async () => {
    const h = new Harness();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1;
        if (sent > 3) controller.error(new Error("aborted"));
        else controller.enqueue(new TextEncoder().encode("{\"address\""));
      },
    });
    const answer = await h.app.request("/v1/egress-ips", {
      method: "POST", body, duplex: "half",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    } as RequestInit);
    assert.equal(answer.status, 400);
    const problem = await answer.json() as { code: string; detail: string };
    assert.equal(problem.code, "malformed-json");
    assert.match(problem.detail, /cut short/);
  });
});

interface RawAnswer {
  statusLine: string;
  head: string;
}

/** A raw HTTP/1.1 client: sends the head and what follows, keeps the connection open, reports the answer's head. */
function rawRequest(socketPath: string, head: string, firstBytes: string): { socket: Socket; answer: Promise<RawAnswer>; answered: () => boolean } {
  const socket = connect(socketPath);
  let received = "";
  let done = false;
  socket.on("error", () => undefined);
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    socket.on("data", (data: Buffer) => {
      received += data.toString("latin1");
      const end = received.indexOf("\r\n\r\n");
      if (end >= 0 && !done) {
        done = true;
        resolve({ statusLine: received.slice(0, received.indexOf("\r\n")), head: received.slice(0, end).toLowerCase() });
      }
    });
    socket.on("close", () => {
      if (!done) reject(new Error("closed without an answer"));
    });
  });
  answer.catch(() => undefined);
  socket.write(head + firstBytes);
  return { socket, answer, answered: () => done };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe("refusals before authentication, over a real socket", () => {
  let dir: string;
  let socketPath: string;
  let server: Server;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-drain-"));
    socketPath = join(dir, "api.sock");
    const app = new Hono();
    // Long enough that a test waiting for a drain to end would time out instead.
    app.use("*", drainRefusedBodies({ drainMs: 60_000 }));
    app.all("*", (c) => c.json({ title: "unauthorized" }, 401));
    server = createAdaptorServer({ fetch: app.fetch }) as Server;
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  after(async () => {
    (server as unknown as HttpServer).closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const chunkedHead = "POST /v1/clusters HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n";

  it(`drains at most ${MAX_CONCURRENT_DRAINS} bodies at once: one more is answered at once, with Connection: close`, { timeout: 20_000 }, async () => {
    const slow = Array.from({ length: MAX_CONCURRENT_DRAINS }, () => rawRequest(socketPath, chunkedHead, "1\r\nA\r\n"));
    try {
      await until(() => drainsUnderway() === MAX_CONCURRENT_DRAINS);
      const extra = rawRequest(socketPath, chunkedHead, "1\r\nA\r\n");
      try {
        const answer = await extra.answer;
        assert.match(answer.statusLine, /^HTTP\/1\.1 401 /);
        assert.match(answer.head, /\r\nconnection: close/);
        assert.equal(slow.filter((s) => s.answered()).length, 0, "the slow senders are still being drained");
        assert.equal(drainsUnderway(), MAX_CONCURRENT_DRAINS);
      } finally {
        extra.socket.destroy();
      }
    } finally {
      for (const s of slow) s.socket.destroy();
    }
    await until(() => drainsUnderway() === 0);
  });

  it("does not drain a body that declares more than the drain would read: answered at once, with Connection: close", { timeout: 20_000 }, async () => {
    const big = rawRequest(socketPath, "POST /v1/clusters HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\nContent-Type: application/json\r\n\r\n", "{");
    try {
      const answer = await big.answer;
      assert.match(answer.statusLine, /^HTTP\/1\.1 401 /);
      assert.match(answer.head, /\r\nconnection: close/);
    } finally {
      big.socket.destroy();
    }
  });
});
