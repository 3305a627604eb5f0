import { Agent, request } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { AppError, errorMessage } from "../errors.js";
import type { LoadedCredentials, ReloadableCredentials } from "../tls/credentials.js";
import { certificateNames, certifiesName } from "../tls/peer-identity.js";

export interface PeerEndpoint {
  name: string;
  address: string;
  port: number;
}

export interface PeerResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface PeerRequest {
  body?: Buffer | string | undefined;
  headers?: Record<string, string> | undefined;
  timeoutMs: number;
  /** Larger answers are cut off with an error: a peer cannot make us buffer without bound either. */
  maxResponseBytes: number;
}

/**
 * HTTPS with mutual TLS to the peer's replication listener over the sync link. The peer must present a
 * certificate that chains to the pinned ones and names the configured peer; ours proves who we are to it.
 * Nothing here carries a shared secret or a client's token in clear.
 */
export class PeerTransport {
  private agent: Agent | undefined;

  constructor(readonly peer: PeerEndpoint, private readonly credentials: ReloadableCredentials) {
    // New certificates: new connections use them at once; the old agent's idle sockets are closed.
    credentials.on("reloaded", (next) => {
      this.agent?.destroy();
      this.agent = this.agentFor(next);
    });
  }

  request(method: string, path: string, options: PeerRequest): Promise<PeerResponse> {
    const { name, address, port } = this.peer;
    return new Promise((resolve, reject) => {
      const body = options.body === undefined ? undefined : Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body, "utf8");
      const req = request({
        host: address, port, method, path, agent: this.agent ??= this.agentFor(this.credentials.current),
        headers: { ...options.headers, ...(body ? { "content-length": String(body.length) } : {}) },
        timeout: options.timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxResponseBytes) {
            req.destroy(new Error(`answer larger than ${options.maxResponseBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
      req.on("error", (error) => reject(new AppError("peer-unreachable", `peer ${name} unreachable: ${errorMessage(error)}`, { cause: error })));
      req.end(body);
    });
  }

  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  private agentFor(credentials: LoadedCredentials): Agent {
    const expected = this.peer.name;
    return new Agent({
      ...credentials.options,
      keepAlive: true,
      maxSockets: 8,
      rejectUnauthorized: true,
      // The chain is checked against the pinned certificates; instead of a host name, the certificate must name the peer.
      checkServerIdentity: (_host, certificate) => certifiesName(certificate, expected)
        ? undefined
        : new Error(`the peer's certificate names ${certificateNames(certificate).join(", ") || "nothing"}, not ${expected}`),
    });
  }
}
