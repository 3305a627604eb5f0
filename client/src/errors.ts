import type { components } from "./schema.js";

/** An RFC 9457 problem document as the daemon sends it (application/problem+json). */
export type Problem = components["schemas"]["Problem"];

/** The API answered with an error status; carries its problem document. */
export class EgwApiError extends Error {
  constructor(readonly method: string, readonly path: string, readonly status: number, readonly problem: Partial<Problem>) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = "EgwApiError";
  }
}

/** The API could not be reached at all (no socket, nothing listening, no permission, no answer in time). */
export class EgwConnectionError extends Error {
  constructor(message: string, readonly code: string | undefined, options?: { cause: unknown }) {
    super(message, options);
    this.name = "EgwConnectionError";
  }
}

/** What a failed connection attempt says, in words an operator can act on. */
export function connectionError(where: string, overSocket: boolean, error: unknown): EgwConnectionError {
  const code = errorCode(error);
  const hint = overSocket ? " (is egw running? systemctl status egw; or pass --socket PATH / --url URL)" : "";
  switch (code) {
    case "ENOENT":
      return new EgwConnectionError(`no API socket at ${where}${hint}`, code, { cause: error });
    case "ECONNREFUSED":
      return new EgwConnectionError(`nothing is listening at ${where}${hint}`, code, { cause: error });
    case "EACCES":
      return new EgwConnectionError(`permission denied on ${where}: run as root or as a member of the socket's group`, code, { cause: error });
    case "ETIMEDOUT":
      return new EgwConnectionError(`${where} did not answer in time`, code, { cause: error });
    case "ECERTIFICATE":
      return new EgwConnectionError(`the certificate of ${where} is not trusted (${innermostMessage(error)}): ` +
        "give its CA (the client's ca option; for egw, the file in NODE_EXTRA_CA_CERTS)", code, { cause: error });
    default:
      return new EgwConnectionError(`cannot reach the API at ${where}: ${innermostMessage(error)}`, code, { cause: error });
  }
}

/**
 * The system error code behind a fetch failure: undici wraps it ("fetch failed", cause: the socket's error), and a
 * timeout is an AbortSignal's TimeoutError or one of undici's own (connect, headers, idle body).
 */
const UNDICI_TIMEOUTS = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.name === "TimeoutError" || UNDICI_TIMEOUTS.has(String((e as { code?: unknown }).code))) return "ETIMEDOUT";
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
    // OpenSSL's verdicts on the peer's certificate (DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID…).
    if (typeof code === "string" && /CERT|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) return "ECERTIFICATE";
  }
  return undefined;
}

function innermostMessage(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  for (let e: unknown = error; e instanceof Error; e = e.cause) message = e.message;
  return message;
}
