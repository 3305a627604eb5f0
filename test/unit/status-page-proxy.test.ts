import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loopbackListen, startStatusPageProxy, type StatusPageProxy } from "../../appliance/http/status-page-proxy.js";

describe("status page proxy: loopback HTTP to the daemon's unix socket, reads only", () => {
  const dir = mkdtempSync(join(tmpdir(), "egw-ui-proxy-"));
  const socket = join(dir, "api.sock");
  const seen: { method: string; url: string; headers: IncomingHttpHeaders; socket: Socket }[] = [];
  // Keeps its connections alive and answers without reading a body, as the daemon may: what smuggling needs.
  const daemon = createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, socket: req.socket });
    res.writeHead(200, { "content-type": "application/json", "content-security-policy": "default-src 'self'" });
    res.end(JSON.stringify({ path: req.url }));
  });
  let proxy: StatusPageProxy;
  const get = (path: string, init: RequestInit = {}) => fetch(`http://${proxy.address}${path}`, init);
  /** Sends raw bytes to the proxy (fetch would fix the framing and the Host) and resolves with the final answer's status line. */
  const raw = (text: string) => new Promise<string>((resolve, reject) => {
    const [host, port] = [proxy.address.slice(0, proxy.address.lastIndexOf(":")), Number(proxy.address.slice(proxy.address.lastIndexOf(":") + 1))];
    const socket = connect(port, host);
    let answer = "";
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
      // An interim answer (100 Continue, sent by Node for Expect) is not the answer.
      while (/^HTTP\/1\.1 1\d\d /.test(answer) && answer.includes("\r\n\r\n")) answer = answer.slice(answer.indexOf("\r\n\r\n") + 4);
      if (!answer.includes("\r\n\r\n")) return;
      socket.destroy();
      resolve(answer.slice(0, answer.indexOf("\r\n")));
    });
    socket.on("error", reject);
    socket.write(text);
  });

  before(async () => {
    await new Promise<void>((resolve) => daemon.listen(socket, resolve));
    proxy = await startStatusPageProxy({ listen: "127.0.0.1:0", socket });
  });
  after(async () => {
    await proxy?.close();
    daemon.closeAllConnections();
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

  it("lets no request swallow the next: one that declares a body is refused, the next reaches the daemon intact", async () => {
    const before = seen.length;
    // The declared body is never sent: a daemon on a reused connection would read the next request as it.
    assert.equal(await raw("GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 80\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    assert.equal(await raw("GET /v1/y HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    assert.equal(await raw("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer admin-token\r\n\r\n"), "HTTP/1.1 200 OK");
    assert.deepEqual(seen.slice(before).map(({ method, url, headers }) => [method, url, headers.authorization]), [["GET", "/v1/status", "Bearer admin-token"]]);
  });

  it("passes no body framing on, and gives each request a connection of its own to the daemon", async () => {
    const before = seen.length;
    assert.equal(await raw("GET /v1/status HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n"), "HTTP/1.1 200 OK");
    assert.equal((await get("/v1/status")).status, 200);
    const [first, second] = seen.slice(before);
    assert.equal(first?.headers["content-length"], undefined);
    assert.equal(first?.headers.expect, undefined);
    assert.ok(first && second && first.socket !== second.socket, "two requests, two connections to the socket");
  });

  it("answers only to a loopback Host: a page that rebinds its name to 127.0.0.1 gets 421", async () => {
    const before = seen.length;
    for (const host of ["evil.example", "evil.example:8081", "127.0.0.1.evil.example", "localhost.evil.example", "0.0.0.0", "[::2]"]) {
      assert.equal(await raw(`GET /v1/status HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer admin-token\r\n\r\n`), "HTTP/1.1 421 Misdirected Request", host);
    }
    assert.equal(seen.length, before, "the daemon saw none of them");
    for (const host of ["localhost", "LOCALHOST:8081", "127.0.0.1", "127.1.2.3:8081", "[::1]", "[::1]:8081"]) {
      assert.equal(await raw(`GET /v1/status HTTP/1.1\r\nHost: ${host}\r\n\r\n`), "HTTP/1.1 200 OK", host);
    }
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
