// One HTTPS request to a gateway's replication listener, run inside a lab namespace (node peer-probe.js '<json>'),
// with or without a client certificate. Prints one JSON line saying how far it got: an HTTP answer, a refusal
// during or right after the TLS handshake, or no connection at all. Tests use it to play a host on the inside
// LAN, or a compromised peer holding the real peer's key.
import { readFileSync } from "node:fs";
import { request } from "node:https";

export interface ProbeRequest {
  host: string;
  port: number;
  method: string;
  path: string;
  /** PEM files of the client certificate and key to present; none when absent. */
  cert?: string;
  key?: string;
  body?: unknown;
  /** A file holding the JSON body (a snapshot can exceed what one command-line argument may hold). */
  bodyFile?: string;
  timeoutMs?: number;
}

export type ProbeResult =
  | { outcome: "http"; status: number; body: unknown }
  | { outcome: "tls-refused" | "no-connection"; error: string };

/** Errors that mean a TCP connection was made and the TLS layer refused it (alerts, reset right after the handshake). */
const TLS_REFUSAL = /alert|handshake|certificate|ECONNRESET|socket hang up|EPIPE/i;

export function probe(spec: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const payload = spec.bodyFile !== undefined ? readFileSync(spec.bodyFile, "utf8") : spec.body === undefined ? undefined : JSON.stringify(spec.body);
    let connected = false;
    const req = request({
      host: spec.host, port: spec.port, method: spec.method, path: spec.path,
      // The probe tests the server's refusal of the client, not the client's check of the server.
      rejectUnauthorized: false,
      ...(spec.cert ? { cert: readFileSync(spec.cert) } : {}),
      ...(spec.key ? { key: readFileSync(spec.key) } : {}),
      headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      timeout: spec.timeoutMs ?? 5_000,
    }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      res.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ outcome: "http", status: res.statusCode ?? 0, body });
      });
      res.on("error", (error) => resolve({ outcome: "tls-refused", error: error.message }));
    });
    req.on("socket", (socket) => socket.on("connect", () => (connected = true)));
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (error: NodeJS.ErrnoException) => {
      const text = `${error.code ?? ""} ${error.message}`.trim();
      resolve({ outcome: connected && TLS_REFUSAL.test(text) ? "tls-refused" : "no-connection", error: text });
    });
    req.end(payload);
  });
}

if (process.argv[2] !== undefined) {
  void probe(JSON.parse(process.argv[2]) as ProbeRequest).then((result) => process.stdout.write(`${JSON.stringify(result)}\n`));
}
