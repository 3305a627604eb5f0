import createClient, { type Client } from "openapi-fetch";
import { EgwApiError, type Problem } from "./errors.js";
import type { paths } from "./schema.js";
import { createTransport, requestOf, type Target } from "./transport.js";

export type { components, operations, paths } from "./schema.js";
export { EgwApiError, EgwConnectionError, type Problem } from "./errors.js";
export type { Target } from "./transport.js";

export type EgwClientOptions = Target & {
  /** The bearer token: the admin token, or a cluster's token. */
  token?: string | undefined;
  /** How long one request may take, connection included (default 60 s). */
  timeoutMs?: number;
};

/** openapi-fetch's typed client for the egw API, plus where it points and a way to close its connections. */
export type EgwClient = Client<paths> & {
  /** "unix:/run/egw/api.sock" or the URL's origin. */
  readonly where: string;
  /** Closes the idle connections (a short-lived program may simply exit instead). */
  close(): Promise<void>;
};

export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * A typed client for egw's REST API, over the gateway's unix socket ({ socket }) or HTTP(S) ({ url, ca? }).
 * Calls answer openapi-fetch's { data, error, response }; wrap one in unwrap() to get the data or an EgwApiError.
 * A request that cannot reach the API rejects with an EgwConnectionError whose message says why.
 */
export function createEgwClient(options: EgwClientOptions): EgwClient {
  const transport = createTransport(options, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const client = createClient<paths>({
    baseUrl: transport.baseUrl,
    fetch: transport.fetch,
    Request: transport.Request,
    headers: {
      accept: "application/json, application/problem+json",
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
  });
  return Object.assign(client, { where: transport.where, close: transport.close });
}

/** The data of a successful call; an error status becomes an EgwApiError carrying the problem document. */
export async function unwrap<D>(pending: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<D> {
  const { data, error, response } = await pending;
  if (response.ok) return data as D;
  const request = requestOf.get(response) ?? { method: "?", path: new URL(response.url || "http://localhost/").pathname };
  throw new EgwApiError(request.method, request.path, response.status, asProblem(error, response.status));
}

function asProblem(body: unknown, status: number): Partial<Problem> {
  if (body && typeof body === "object") return body as Partial<Problem>;
  return { status, detail: typeof body === "string" && body ? body.slice(0, 500) : `HTTP ${status}` };
}
