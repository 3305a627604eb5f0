import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createAdaptorServer } from "@hono/node-server";
import { ADMIN_TOKEN, Harness } from "./harness.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** An error the client saw while sending (EPIPE, ECONNRESET), if any. */
  sendError: string | undefined;
}

/**
 * Sends `total` bytes in chunks, one per turn of the event loop, the way a client uploading a large body
 * over a slow link does: the server has long decided before the last chunk is sent.
 */
function upload(socketPath: string, path: string, total: number, options: { chunked: boolean; token?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (!options.chunked) headers["content-length"] = String(total);
    const req = request({ socketPath, path, method: "POST", headers });
    let sendError: string | undefined;
    let answer: Omit<Answer, "sendError"> | undefined;
    let finished = false;
    const settle = () => {
      if (answer && finished) resolve({ ...answer, sendError });
    };
    req.on("error", (error: NodeJS.ErrnoException) => {
      sendError = error.code ?? error.message;
      if (answer) resolve({ ...answer, sendError });
      else reject(error);
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        answer = { status: res.statusCode ?? 0, headers: res.headers, body };
        settle();
      });
    });
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    let sent = 0;
    const sendMore = () => {
      if (sendError !== undefined) return;
      if (sent >= total) {
        req.end(() => {
          finished = true;
          settle();
        });
        return;
      }
      const size = Math.min(chunk.length, total - sent);
      sent += size;
      if (req.write(chunk.subarray(0, size))) setImmediate(sendMore);
      else req.once("drain", sendMore);
    };
    req.write("{\"pad\":\"");
    sent += 8;
    sendMore();
  });
}

describe("a body over the limit, sent over a real socket", () => {
  let dir: string;
  let socketPath: string;
  let server: Server;
  let h: Harness;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-413-"));
    socketPath = join(dir, "api.sock");
    // A loaded runner may take more than the daemon's 2 s to send 2 MiB: the drain must outlast the upload.
    h = new Harness({ bodyDrainMs: 30_000 });
    server = createAdaptorServer({ fetch: h.app.fetch }) as Server;
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const chunked of [false, true]) {
    it(`answers 413 problem+json that the client reads in full, with Connection: close (${chunked ? "chunked" : "Content-Length"})`, async () => {
      const answer = await upload(socketPath, "/v1/egress-ips", 2 * 1024 * 1024, { chunked, token: ADMIN_TOKEN });
      assert.equal(answer.sendError, undefined, "the client must not see EPIPE or ECONNRESET");
      assert.equal(answer.status, 413);
      assert.equal(answer.headers["content-type"], "application/problem+json");
      assert.equal(answer.headers.connection, "close");
      const problem = JSON.parse(answer.body) as { code: string; status: number; detail: string };
      assert.equal(problem.code, "payload-too-large");
      assert.equal(problem.status, 413);
      assert.match(problem.detail, /larger than 65536 bytes/);
    });
  }

  it("lets a client sending a large body without a token read its 401 too", async () => {
    const answer = await upload(socketPath, "/v1/egress-ips", 2 * 1024 * 1024, { chunked: false });
    assert.equal(answer.sendError, undefined, "the client must not see EPIPE or ECONNRESET");
    assert.equal(answer.status, 401);
    assert.equal(answer.headers["www-authenticate"], 'Bearer realm="egw"');
    assert.equal((JSON.parse(answer.body) as { code: string }).code, "unauthorized");
  });

  it("still serves a chunked body under the limit, read whole before the route parses it", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ socketPath, path: "/v1/egress-ips", method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.write("{\"address\": ");
      req.end("\"203.0.113.77\"}");
    });
    assert.equal(status, 201);
    assert.equal((await h.admin("GET", "/v1/egress-ips/203.0.113.77")).status, 200);
  });
});
