import { Agent, fetch as undiciFetch, Request as UndiciRequest } from "undici";
import { connectionError } from "./errors.js";

/** Where the daemon's API is: its unix socket (on the gateway), or an http(s) URL with an optional CA for TLS. */
export type Target = { socket: string } | { url: string | URL; ca?: string | Buffer | (string | Buffer)[] };

export interface Transport {
  /** The base URL requests are built on (http://localhost for the socket). */
  baseUrl: string;
  /** "unix:/run/egw/api.sock" or the URL's origin: for messages. */
  where: string;
  fetch: (request: Request) => Promise<Response>;
  /** undici's Request: a Request of Node's own bundled undici would not be recognised by this undici's fetch. */
  Request: typeof Request;
  close(): Promise<void>;
}

/** The request (method, path) a response answered: kept for error messages without holding the response. */
export const requestOf = new WeakMap<Response, { method: string; path: string }>();

/**
 * Sends requests with this package's undici (never the global fetch, whose undici version follows Node's), over
 * the unix socket or TCP. The timeout bounds the connect, the wait for the answer's headers and each silence while
 * its body arrives, not the whole exchange: a large list over a slow link is not cut off while it keeps coming.
 * A connection that fails becomes an EgwConnectionError.
 */
export function createTransport(target: Target, timeoutMs: number): Transport {
  const overSocket = "socket" in target;
  const timeouts = { headersTimeout: timeoutMs, bodyTimeout: timeoutMs };
  let base: URL;
  let agent: Agent;
  if (overSocket) {
    base = new URL("http://localhost");
    agent = new Agent({ ...timeouts, connect: { socketPath: target.socket, timeout: timeoutMs } });
  } else {
    base = new URL(target.url);
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new TypeError(`the API's URL must be http:// or https://, not ${base.protocol}`);
    agent = new Agent({ ...timeouts, connect: target.ca === undefined ? { timeout: timeoutMs } : { ca: target.ca, timeout: timeoutMs } });
  }
  const where = overSocket ? `unix:${target.socket}` : base.origin;
  const prefix = base.pathname.replace(/\/$/, "");
  return {
    baseUrl: `${base.origin}${prefix}`,
    where,
    Request: UndiciRequest as unknown as typeof Request,
    fetch: async (request) => {
      let response: Response;
      try {
        response = (await undiciFetch(request as unknown as UndiciRequest, { dispatcher: agent })) as unknown as Response;
      } catch (error) {
        // A caller's own abort stays an abort; everything else is the connection's fault.
        if (request.signal?.aborted) throw error;
        throw connectionError(where, overSocket, error);
      }
      const url = new URL(request.url);
      requestOf.set(response, { method: request.method, path: `${url.pathname.slice(prefix.length) || "/"}${url.search}` });
      return response;
    },
    close: () => agent.close(),
  };
}
