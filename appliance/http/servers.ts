import { createAdaptorServer } from "@hono/node-server";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Server } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { SystemFiles } from "../system/files.js";
import type { ReloadableCredentials } from "../tls/credentials.js";
import { certificateNames, certifiesName } from "../tls/peer-identity.js";

type Fetch = (request: Request) => Response | Promise<Response>;

export interface ApiTls {
  credentials: ReloadableCredentials;
  /** Ask for a client certificate (verified against the credentials' CA). */
  requestClientCert: boolean;
  /** Refuse a connection without a valid client certificate. */
  requireClientCert: boolean;
}

/** One public API listener: HOST:PORT (HTTPS when `tls` is given) or unix:/path (always plain HTTP, mode 0660). */
export async function listenApi(fetch: Fetch, listen: string, tls: ApiTls | undefined, files: SystemFiles): Promise<Server> {
  const unixPath = listen.startsWith("unix:") ? listen.slice("unix:".length) : undefined;
  if (unixPath !== undefined) {
    const server = createAdaptorServer({ fetch, serverOptions: CHECK_TIMEOUTS }) as Server;
    limitRequests(server);
    files.removeFile(unixPath);
    await bind(server, (done) => server.listen(unixPath, done));
    files.setMode(unixPath, 0o660);
    return server;
  }
  const server = (tls
    ? createAdaptorServer({
      fetch, createServer: createHttpsServer,
      serverOptions: { ...tls.credentials.current.options, requestCert: tls.requestClientCert, rejectUnauthorized: tls.requireClientCert, ...CHECK_TIMEOUTS },
    })
    : createAdaptorServer({ fetch, serverOptions: CHECK_TIMEOUTS })) as Server;
  limitRequests(server);
  if (tls) followCredentials(server as unknown as HttpsServer, tls.credentials);
  const { host, port } = splitHostPort(listen);
  await bind(server, (done) => server.listen(port, host, done));
  return server;
}

/**
 * Limits on what one client may hold of an API listener. Node's `requestTimeout` covers receiving a
 * request (headers and body), not computing its answer, so a whole-set PUT with ?wait=true that takes long
 * to apply is not cut short by it; 60 s receives the largest allowed body over a slow link.
 */
export const API_SERVER_LIMITS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  maxConnections: 1024,
} as const;

/** Node checks the two timeouts only this often (30 s by default, which would triple the headers timeout). */
const CHECK_TIMEOUTS = { connectionsCheckingInterval: 1_000 };

function limitRequests(server: Server): void {
  const http = server as Server & { headersTimeout: number; requestTimeout: number };
  http.headersTimeout = API_SERVER_LIMITS.headersTimeoutMs;
  http.requestTimeout = API_SERVER_LIMITS.requestTimeoutMs;
  server.maxConnections = API_SERVER_LIMITS.maxConnections;
}

export interface PeerListener {
  address: string;
  port: number;
  peerName: string;
  credentials: ReloadableCredentials;
}

/**
 * The replication listener: HTTPS bound to this gateway's sync-link address, mutual TLS only. The TLS layer
 * refuses a client certificate that does not chain to the pinned ones; a trusted certificate that names
 * another gateway is refused right after the handshake. Both are logged.
 */
export async function listenPeer(fetch: Fetch, peer: PeerListener, log: Logger): Promise<Server> {
  const server = createAdaptorServer({
    fetch, createServer: createHttpsServer,
    serverOptions: { ...peer.credentials.current.options, requestCert: true, rejectUnauthorized: true },
  }) as unknown as HttpsServer;
  server.on("secureConnection", (socket: TLSSocket) => {
    const certificate = socket.getPeerCertificate();
    if (certifiesName(certificate, peer.peerName)) return;
    log.warn({ remote: socket.remoteAddress, names: certificateNames(certificate) }, `replication connection refused: the certificate does not name ${peer.peerName}`);
    socket.destroy();
  });
  server.on("tlsClientError", (error, socket) => {
    log.warn({ remote: socket.remoteAddress, err: error.message }, "replication connection refused at the TLS handshake");
  });
  followCredentials(server, peer.credentials);
  await bind(server as unknown as Server, (done) => server.listen(peer.port, peer.address, done));
  return server as unknown as Server;
}

/** New certificates apply to new connections at once; established ones keep theirs. */
function followCredentials(server: HttpsServer, credentials: ReloadableCredentials): void {
  credentials.on("reloaded", (next) => server.setSecureContext(next.options));
}

function splitHostPort(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(":");
  return { host: listen.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(listen.slice(colon + 1)) };
}

function bind(server: Server, listen: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    listen(() => {
      server.off("error", reject);
      resolve();
    });
  });
}
