import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { createEgwClient, EgwApiError, EgwConnectionError, unwrap } from "../../../client/src/index.js";
import { generateSchemaSource, SCHEMA_FILE } from "../../../client/codegen/schema-source.js";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";
import { fakeApi, type FakeApi } from "../cli/fake-api.js";

const run = promisify(execFile);

describe("the typed client package (client/)", () => {
  it("its committed schema.ts is what the current OpenAPI document generates (else: npm run client:generate)", async () => {
    const committed = readFileSync(SCHEMA_FILE, "utf8");
    const fresh = await generateSchemaSource();
    assert.ok(committed === fresh, "client/src/schema.ts is stale: run `npm run client:generate` and commit the result");
  });

  it("carries the product's version", () => {
    const product = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string };
    const client = JSON.parse(readFileSync(join(PACKAGE_ROOT, "client", "package.json"), "utf8")) as { version: string; peerDependencies: Record<string, string> };
    assert.equal(client.version, product.version);
    assert.ok(client.peerDependencies["openapi-fetch"], "openapi-fetch is a peer dependency");
  });
});

describe("createEgwClient over a unix socket", () => {
  let api: FakeApi;
  before(async () => {
    api = await fakeApi({
      "GET /v1/egress-ips": () => ({ status: 200, body: { egressIps: [{ address: "203.0.113.10", family: 4, description: "", cluster: null }] } }),
      "DELETE /v1/clusters/prod/mappings/erp?wait=true": () => ({ status: 204 }),
      "DELETE /v1/egress-ips/2001%3Adb8%3A%3A10": () => ({
        status: 409, body: { type: "https://egw.dev/problems/in-use", title: "In use", status: 409, code: "in-use", detail: "used by mapping erp", fields: [{ field: "address", reason: "in use" }] },
      }),
    });
  });
  after(() => api.close());

  it("sends the bearer token and answers typed data", async () => {
    const client = createEgwClient({ socket: api.socket, token: "secret-token" });
    const { egressIps } = await unwrap(client.GET("/v1/egress-ips"));
    assert.equal(egressIps[0]?.address, "203.0.113.10");
    assert.equal(api.requests.at(-1)?.headers.authorization, "Bearer secret-token");
    assert.equal(client.where, `unix:${api.socket}`);
    await client.close();
  });

  it("encodes path parameters and sends query parameters; a 204 has no data", async () => {
    const client = createEgwClient({ socket: api.socket });
    const data = await unwrap(client.DELETE("/v1/clusters/{name}/mappings/{mapping}", { params: { path: { name: "prod", mapping: "erp" }, query: { wait: "true" } } }));
    assert.equal(data, undefined);
    assert.equal(api.requests.at(-1)?.url, "/v1/clusters/prod/mappings/erp?wait=true");
    assert.equal(api.requests.at(-1)?.headers.authorization, undefined, "no token, no header");
  });

  it("turns a problem document into an EgwApiError with the request, the status and the fields", async () => {
    const client = createEgwClient({ socket: api.socket });
    const error = await unwrap(client.DELETE("/v1/egress-ips/{address}", { params: { path: { address: "2001:db8::10" } } })).catch((e: unknown) => e);
    assert.ok(error instanceof EgwApiError);
    assert.equal(error.method, "DELETE");
    assert.equal(error.path, "/v1/egress-ips/2001%3Adb8%3A%3A10");
    assert.equal(error.status, 409);
    assert.equal(error.problem.code, "in-use");
    assert.equal(error.message, "used by mapping erp");
    assert.deepEqual(error.problem.fields, [{ field: "address", reason: "in use" }]);
  });

  it("says why it cannot connect: no socket, nothing listening", async () => {
    const missing = await createEgwClient({ socket: join(api.dir, "missing.sock") }).GET("/v1/status").catch((e: unknown) => e);
    assert.ok(missing instanceof EgwConnectionError);
    assert.match(missing.message, /^no API socket at unix:.*missing\.sock \(is egw running\?/);
    // A socket file nothing listens on (moved away before its server closed), in this test's own directory: unlike
    // a TCP port just freed, no other process can take it meanwhile.
    const stale = join(api.dir, "stale.sock");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(api.dir, "listening.sock"), resolve));
    renameSync(join(api.dir, "listening.sock"), stale);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const refused = await createEgwClient({ socket: stale }).GET("/v1/status").catch((e: unknown) => e);
    assert.ok(refused instanceof EgwConnectionError);
    assert.equal(refused.code, "ECONNREFUSED");
    assert.equal(refused.message, `nothing is listening at unix:${stale} (is egw running? systemctl status egw; or pass --socket PATH / --url URL)`);
  });

  it("gives up after its timeout with a message that says so", async () => {
    const server = createServer(() => undefined); // never answers
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const error = await createEgwClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 200 }).GET("/v1/status").catch((e: unknown) => e);
      assert.ok(error instanceof EgwConnectionError);
      assert.equal(error.message, `http://127.0.0.1:${port} did not answer in time`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("refuses a URL that is not http(s)", () => {
    assert.throws(() => createEgwClient({ url: "ftp://gw/" }), /must be http:\/\/ or https:\/\//);
  });
});

describe("createEgwClient over http(s)", () => {
  /** A server that answers every request with the path it was asked for. */
  const echo = (req: { url?: string }, res: { writeHead(status: number, headers: Record<string, string>): void; end(body: string): void }) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ egressIps: [], asked: req.url }));
  };

  it("keeps a URL's path prefix (a daemon behind a reverse proxy)", async () => {
    const server = createServer(echo);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const client = createEgwClient({ url: `http://127.0.0.1:${port}/egw/` });
      const answer = await unwrap(client.GET("/v1/egress-ips"));
      assert.equal((answer as unknown as { asked: string }).asked, "/egw/v1/egress-ips");
      await client.close();
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("trusts a daemon's certificate given as ca, and refuses it otherwise", async () => {
    const dir = mkdtempSync(join(tmpdir(), "egw-client-tls-"));
    const server = createTlsServer({}, echo);
    try {
      // An IPv4 address, not "localhost" (which may be ::1 where IPv6 is off), so the certificate names that address.
      const files = { cert: join(dir, "api.crt"), key: join(dir, "api.key") };
      await run("openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", files.key, "-out", files.cert, "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE",
      ], { timeout: 30_000 });
      const cert = readFileSync(files.cert);
      server.setSecureContext({ cert, key: readFileSync(files.key) });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as { port: number };
      const trusted = createEgwClient({ url: `https://127.0.0.1:${port}`, ca: cert });
      assert.deepEqual((await unwrap(trusted.GET("/v1/egress-ips"))).egressIps, []);
      await trusted.close();
      const untrusted = await createEgwClient({ url: `https://127.0.0.1:${port}` }).GET("/v1/egress-ips").catch((e: unknown) => e);
      assert.ok(untrusted instanceof EgwConnectionError);
      // Node 24 adds its own hint to the reason ("…; if the root CA is installed locally, try … --use-system-ca").
      assert.match(untrusted.message, new RegExp(`^the certificate of https://127.0.0.1:${port} is not trusted \\(self.signed certificate[^)]*\\): give its CA`));
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
