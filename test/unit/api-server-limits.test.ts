import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:net";
import type { Server as HttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { API_SERVER_LIMITS, listenApi } from "../../appliance/http/servers.js";
import { hostCommandsAndFiles } from "../../appliance/system/system.js";

const hello = () => new Response("hello");

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe("API listeners bound what one client may hold", () => {
  for (const kind of ["tcp", "unix"] as const) {
    it(`a ${kind} listener times out slow headers and slow requests and caps its connections`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "egw-limits-"));
      const listen = kind === "tcp" ? "127.0.0.1:0" : `unix:${join(dir, "api.sock")}`;
      const server = await listenApi(hello, listen, undefined, hostCommandsAndFiles().files);
      try {
        const http = server as unknown as HttpServer;
        assert.equal(http.headersTimeout, API_SERVER_LIMITS.headersTimeoutMs);
        assert.equal(http.requestTimeout, API_SERVER_LIMITS.requestTimeoutMs);
        assert.equal(server.maxConnections, API_SERVER_LIMITS.maxConnections);
        assert.ok(API_SERVER_LIMITS.headersTimeoutMs <= 10_000 && API_SERVER_LIMITS.requestTimeoutMs <= 60_000);
        const address = server.address();
        const answer = typeof address === "object" && address !== null
          ? await fetch(`http://127.0.0.1:${address.port}/`)
          : undefined;
        if (answer) assert.equal(await answer.text(), "hello");
      } finally {
        await close(server);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
