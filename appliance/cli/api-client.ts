import { request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";

/** Where the daemon's API is: its unix socket (on the gateway) or a URL. */
export type Endpoint = { kind: "unix"; socket: string } | { kind: "url"; url: URL };

export function describeEndpoint(endpoint: Endpoint): string {
  return endpoint.kind === "unix" ? `unix:${endpoint.socket}` : endpoint.url.origin;
}

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** An RFC 9457 problem document as the daemon sends it. */
export interface Problem {
  status?: number;
  code?: string;
  title?: string;
  detail?: string;
  fields?: { field: string; reason: string }[];
}

/** The API answered with an error status; carries the problem document. */
export class ApiError extends Error {
  constructor(readonly method: string, readonly path: string, readonly status: number, readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = "ApiError";
  }
}

/** The API could not be reached at all. */
export class ConnectionError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/** A small JSON-over-HTTP client for the daemon's API; every error becomes an ApiError or ConnectionError. */
export class ApiClient {
  constructor(readonly endpoint: Endpoint, private readonly token: string | undefined, private readonly timeoutMs = 60_000) {}

  /** Calls the API and returns the parsed body, or throws ApiError for a status of 400 or more. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body);
    if (response.status >= 400) throw new ApiError(method, path, response.status, asProblem(response));
    return response.body as T;
  }

  request(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = { accept: "application/json, application/problem+json" };
    if (this.token) headers["authorization"] = `Bearer ${this.token}`;
    if (payload !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = Buffer.byteLength(payload);
    }
    const endpoint = this.endpoint;
    let send: typeof httpRequest = httpRequest;
    let options: RequestOptions;
    if (endpoint.kind === "unix") {
      options = { socketPath: endpoint.socket, method, path, headers };
    } else {
      const base = endpoint.url.pathname.replace(/\/$/, "");
      options = { hostname: endpoint.url.hostname.replace(/^\[|\]$/g, ""), port: endpoint.url.port || undefined, method, path: `${base}${path}`, headers };
      if (endpoint.url.protocol === "https:") send = httpsRequest;
    }
    return new Promise((resolve, reject) => {
      const req = send(options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text === "" ? undefined : text;
          try {
            if (text !== "") parsed = JSON.parse(text);
          } catch {
            // plain-text bodies (metrics) stay strings
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
        res.on("error", reject);
      });
      req.on("error", (error: NodeJS.ErrnoException) => reject(connectionError(endpoint, error)));
      req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}

function asProblem(response: ApiResponse): Problem {
  const body = response.body;
  if (body && typeof body === "object") return body as Problem;
  return { status: response.status, detail: typeof body === "string" && body ? body.slice(0, 500) : `HTTP ${response.status}` };
}

function connectionError(endpoint: Endpoint, error: NodeJS.ErrnoException): ConnectionError {
  const where = describeEndpoint(endpoint);
  const hint = endpoint.kind === "unix" ? " (is egw running? systemctl status egw; or pass --socket PATH / --url URL)" : "";
  switch (error.code) {
    case "ENOENT":
      return new ConnectionError(`no API socket at ${where}${hint}`, { cause: error });
    case "ECONNREFUSED":
      return new ConnectionError(`nothing is listening at ${where}${hint}`, { cause: error });
    case "EACCES":
      return new ConnectionError(`permission denied on ${where}: run as root or as a member of the socket's group`, { cause: error });
    case "ETIMEDOUT":
      return new ConnectionError(`${where} did not answer in time`, { cause: error });
    default:
      return new ConnectionError(`cannot reach the API at ${where}: ${error.message}`, { cause: error });
  }
}
