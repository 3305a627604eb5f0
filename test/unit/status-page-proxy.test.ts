import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loopbackListen, startStatusPageProxy, type StatusPageProxy } from "../../appliance/http/status-page-proxy.js";

describe("status page proxy: loopback HTTP to the daemon's unix socket, reads only", () => {
  const dir = mkdtempSync(join(tmpdir(), "egw-ui-proxy-"));
  const socket = join(dir, "api.sock");
  const seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
  const daemon = createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    res.writeHead(200, { "content-type": "application/json", "content-security-policy": "default-src 'self'", connection: "close" });
    res.end(JSON.stringify({ path: req.url }));
  });
  let proxy: StatusPageProxy;
  const get = (path: string, init: RequestInit = {}) => fetch(`http://${proxy.address}${path}`, init);

  before(async () => {
    await new Promise<void>((resolve) => daemon.listen(socket, resolve));
    proxy = await startStatusPageProxy({ listen: "127.0.0.1:0", socket });
  });
  after(async () => {
    await proxy?.close();
    await new Promise<void>((resolve) => daemon.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes the page's reads to the socket with the token, and the daemon's headers back", async () => {
    const response = await get("/v1/status?x=1", { headers: { authorization: "Bearer admin-token" } });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { path: "/v1/status?x=1" });
    assert.equal(response.headers.get("content-security-policy"), "default-src 'self'");
    const last = seen.at(-1);
    assert.equal(last?.headers.authorization, "Bearer admin-token");
    assert.equal(last?.headers.host, "localhost");
    for (const path of ["/", "/ui/", "/ui/app.js", "/metrics", "/readyz", "/healthz"]) assert.equal((await get(path)).status, 200, path);
  });

  it("changes nothing: a write is refused before it reaches the daemon, and so is a path the page does not use", async () => {
    const before = seen.length;
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const response = await get("/v1/egress-ips", { method, body: method === "DELETE" ? null : "{}", headers: { authorization: "Bearer admin-token" } });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get("allow"), "GET, HEAD");
    }
    for (const path of ["/openapi.json", "/uix", "/v1", "/metricsx"]) assert.equal((await get(path)).status, 404, path);
    assert.equal(seen.length, before, "the daemon saw none of them");
  });

  it("answers 502 when the daemon does not answer on its socket", async () => {
    const orphan = await startStatusPageProxy({ listen: "127.0.0.1:0", socket: join(dir, "absent.sock") });
    try {
      const response = await fetch(`http://${orphan.address}/v1/status`);
      assert.equal(response.status, 502);
      assert.match(await response.text(), /does not answer/);
    } finally {
      await orphan.close();
    }
  });

  it("listens on loopback only: the token would cross the network in clear", () => {
    assert.deepEqual(loopbackListen("127.0.0.1:8081"), { host: "127.0.0.1", port: 8081 });
    assert.deepEqual(loopbackListen("[::1]:8081"), { host: "::1", port: 8081 });
    assert.deepEqual(loopbackListen("localhost:8081"), { host: "localhost", port: 8081 });
    for (const listen of ["0.0.0.0:8081", "172.31.0.1:8081", "[::]:8081", "8081", "127.0.0.1:99999", "127.0.0.1:x"]) {
      assert.throws(() => loopbackListen(listen), /loopback/, listen);
    }
  });
});
