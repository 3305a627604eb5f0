import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import type { AddressInfo, Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { listenApi, listenPeer } from "../../appliance/http/servers.js";
import { PeerTransport } from "../../appliance/replication/peer-transport.js";
import { ReloadableCredentials } from "../../appliance/tls/credentials.js";
import { createPeerCertificate } from "../../appliance/tls/peer-cert.js";
import { hostCommandsAndFiles } from "../../appliance/system/system.js";

const quiet = pino({ enabled: false });
const hello = () => new Response("hello");

/** The certificate a TLS server presents on a new connection (and whether it accepted us). */
function handshake(port: number, options: { cert?: Buffer; key?: Buffer } = {}): Promise<{ certificate: PeerCertificate; authorized: boolean; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options }, () => {
      const certificate = socket.getPeerCertificate();
      // A server that refuses our certificate closes right after the handshake (TLS 1.3 sends the alert late).
      socket.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      let answered = false;
      socket.on("data", () => (answered = true));
      socket.on("close", () => resolve({ certificate, authorized: socket.authorized, closedByServer: !answered }));
    });
    socket.on("error", (error) => (error.message.includes("certificate") || error.message.includes("alert") ? undefined : reject(error)));
  });
}

const portOf = (server: Server) => (server.address() as AddressInfo).port;

describe("TLS listeners: client certificates, pinned peers, reload without restart", () => {
  let dir = "";
  const files = (name: string) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  const servers: Server[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-tls-"));
    for (const name of ["api", "api-renewed", "client", "gw-a", "gw-b", "intruder"]) await createPeerCertificate(hostCommandsAndFiles(), name, dir);
  });

  after(() => {
    for (const server of servers) server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("egw peer-cert makes a certificate that names the gateway and is no CA (it vouches for nothing but itself)", () => {
    const certificate = new X509Certificate(readFileSync(files("gw-a").cert));
    assert.equal(certificate.ca, false);
    assert.equal(certificate.subjectAltName, "DNS:gw-a");
    assert.equal((statSync(files("gw-a").key).mode & 0o777).toString(8), "600");
  });

  it("serves a renewed certificate to new connections without a restart", async () => {
    const credentials = new ReloadableCredentials(files("api"), "api.tls");
    credentials.load();
    const server = await listenApi(hello, "127.0.0.1:0", { credentials, requestClientCert: false, requireClientCert: false }, hostCommandsAndFiles().files);
    servers.push(server);
    assert.equal((await handshake(portOf(server))).certificate.subject.CN, "api");
    // Renewal the way certbot or configuration management does it: new files moved into place.
    renameSync(files("api-renewed").cert, files("api").cert);
    renameSync(files("api-renewed").key, files("api").key);
    credentials.reload();
    assert.equal((await handshake(portOf(server))).certificate.subject.CN, "api-renewed");
  });

  it("keeps the previous certificate when a renewal is caught half-way (key and certificate do not match)", async () => {
    const half = { cert: files("client").cert, key: files("gw-a").key };
    const credentials = new ReloadableCredentials(files("gw-b"), "api.tls");
    credentials.load();
    const server = await listenApi(hello, "127.0.0.1:0", { credentials, requestClientCert: false, requireClientCert: false }, hostCommandsAndFiles().files);
    servers.push(server);
    const failures: unknown[] = [];
    credentials.on("failed", (error) => failures.push(error));
    const mismatched = new ReloadableCredentials(half, "api.tls");
    mismatched.on("failed", (error) => failures.push(error));
    mismatched.reload();
    assert.equal(failures.length, 1, "a mismatched pair is refused");
    assert.equal((await handshake(portOf(server))).certificate.subject.CN, "gw-b");
  });

  it("with requireClientCert, refuses a client without a certificate from the client CA", async () => {
    const credentials = new ReloadableCredentials({ ...files("gw-a"), ca: files("client").cert }, "api.tls");
    credentials.load();
    const server = await listenApi(hello, "127.0.0.1:0", { credentials, requestClientCert: true, requireClientCert: true }, hostCommandsAndFiles().files);
    servers.push(server);
    assert.equal((await handshake(portOf(server))).closedByServer, true, "no certificate: refused");
    const identity = (name: string) => ({ cert: readFileSync(files(name).cert), key: readFileSync(files(name).key) });
    assert.equal((await handshake(portOf(server), identity("intruder"))).closedByServer, true, "an untrusted certificate: refused");
    assert.equal((await handshake(portOf(server), identity("client"))).closedByServer, false, "the client CA's certificate: served");
  });

  it("the replication listener serves only the pinned peer, under its own name", async () => {
    const a = new ReloadableCredentials({ ...files("gw-a"), ca: files("gw-b").cert }, "ha.tls");
    a.load();
    const server = await listenPeer(hello, { address: "127.0.0.1", port: 0, peerName: "gw-b", credentials: a }, quiet);
    servers.push(server);
    const port = portOf(server);
    const asPeer = new PeerTransport({ name: "gw-a", address: "127.0.0.1", port }, trusting("gw-b", "gw-a"));
    assert.equal((await asPeer.request("GET", "/", { timeoutMs: 5_000, maxResponseBytes: 1_000 })).body.toString(), "hello");
    asPeer.close();
    // An intruder that trusts gw-a but holds no pinned certificate.
    const intruder = new PeerTransport({ name: "gw-a", address: "127.0.0.1", port }, trusting("intruder", "gw-a"));
    await assert.rejects(intruder.request("GET", "/", { timeoutMs: 5_000, maxResponseBytes: 1_000 }));
    intruder.close();
    // The client checks the server's name too: gw-a's certificate does not pass for a gateway called gw-c.
    const confused = new PeerTransport({ name: "gw-c", address: "127.0.0.1", port }, trusting("gw-b", "gw-a"));
    await assert.rejects(confused.request("GET", "/", { timeoutMs: 5_000, maxResponseBytes: 1_000 }), /names gw-a, not gw-c/);
    confused.close();
  });

  /** Credentials of `self` that trust `peer`'s certificate. */
  function trusting(self: string, peer: string): ReloadableCredentials {
    const credentials = new ReloadableCredentials({ ...files(self), ca: files(peer).cert }, "ha.tls");
    credentials.load();
    return credentials;
  }
});
