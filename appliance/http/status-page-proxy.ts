import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP, type AddressInfo } from "node:net";

/**
 * The status page for a gateway whose API listens only on its unix socket (a browser cannot open one): a plain
 * HTTP listener on loopback that passes the page's own requests to the socket, unchanged. It adds no authority:
 * the daemon still wants the admin token the operator signs in with, and the proxy lets only reads through, so
 * nothing can be changed through it. Reach it from a workstation with `ssh -L`.
 *
 * Reads carry no body: one that declares a body is refused, since the daemon would otherwise wait for bytes the
 * proxy never sends and read the next request on a shared connection as that body (request smuggling). Each
 * request also gets a connection of its own to the socket, so no two clients' requests ever share one. A Host
 * that is not a loopback name is refused too: a web page that rebinds its own name to 127.0.0.1 must not be able
 * to use the operator's browser (and its token) through the proxy.
 */
export interface StatusPageProxy {
  /** HOST:PORT it listens on (the port chosen by the system when 0 was asked for). */
  address: string;
  close(): Promise<void>;
}

/** The paths the page uses: its files, the JSON API, the metrics and readiness. Nothing else is passed on. */
const PAGE_PATHS = /^\/(?:$|ui(?:[/?#]|$)|v1\/|metrics(?:\?|$)|readyz(?:\?|$)|healthz(?:\?|$))/;
const READS = new Set(["GET", "HEAD"]);
/** Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not passed on. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authorization", "proxy-authenticate"]);
/** Headers about a request body, which no request through the proxy has. */
const BODY_HEADERS = new Set(["content-length", "expect"]);

const LOOPBACK_HOSTS = new Set(["localhost", "::1", "[::1]"]);
/** A Host header naming loopback: localhost, 127.x.y.z or [::1], with an optional port. */
const LOOPBACK_HOST_HEADER = /^(?:localhost|127(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}|\[::1\])(?::\d{1,5})?$/i;

/** Plain HTTP carries the admin token in clear: the proxy binds loopback addresses only. */
export function loopbackListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon);
  const port = Number(listen.slice(colon + 1));
  const bare = host.replace(/^\[|\]$/g, "");
  const loopback = LOOPBACK_HOSTS.has(host) || (isIP(bare) === 4 && bare.startsWith("127."));
  if (colon < 0 || !loopback || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`${listen}: the status page proxy listens on a loopback HOST:PORT only (127.0.0.1:8081, [::1]:8081, localhost:8081); use ssh -L to reach it`);
  }
  return { host: bare, port };
}

function forwardedHeaders(headers: IncomingHttpHeaders, dropped: ReadonlySet<string> = new Set()): IncomingHttpHeaders {
  const named = new Set((String(headers["connection"] ?? "")).split(",").map((h) => h.trim().toLowerCase()).filter(Boolean));
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name) && !named.has(name) && !dropped.has(name) && name !== "host"));
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length.trim() !== "0");
}

function refuse(res: ServerResponse, status: number, detail: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...headers });
  res.end(`${detail}\n`);
}

export async function startStatusPageProxy(options: { listen: string; socket: string }): Promise<StatusPageProxy> {
  const { host, port } = loopbackListen(options.listen);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? "";
    if (!LOOPBACK_HOST_HEADER.test(req.headers.host ?? "")) return refuse(res, 421, "the status page proxy answers only to a loopback Host (localhost, 127.0.0.1, [::1])", { connection: "close" });
    if (!READS.has(req.method ?? "")) return refuse(res, 405, "the status page proxy is read-only", { allow: "GET, HEAD" });
    if (hasBody(req)) return refuse(res, 400, "a read through the status page proxy carries no body", { connection: "close" });
    if (!PAGE_PATHS.test(path)) return refuse(res, 404, `the status page proxy does not pass ${path.slice(0, 200)} on`);
    const headers = { ...forwardedHeaders(req.headers, BODY_HEADERS), host: "localhost" };
    const upstream = request({ socketPath: options.socket, agent: false, method: req.method, path, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, forwardedHeaders(answer.headers));
      answer.pipe(res);
    });
    upstream.setTimeout(30_000, () => upstream.destroy(new Error("no answer within 30 s")));
    upstream.on("error", (error) => {
      if (res.headersSent) return res.destroy();
      refuse(res, 502, `the daemon does not answer on ${options.socket}: ${error.message}`);
    });
    upstream.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
