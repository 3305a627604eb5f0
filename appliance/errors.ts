/**
 * The one catalogue of errors the appliance can report. Every error that can reach an API client or an
 * operator has a stable code, an HTTP status and a title here; a test inventories the catalogue so codes
 * are never reused or silently changed.
 */
export const ERROR_CATALOGUE = {
  "malformed-json": { status: 400, title: "The request body is not valid JSON" },
  "unauthorized": { status: 401, title: "Missing, unknown or revoked token" },
  "forbidden": { status: 403, title: "This token may not do that" },
  "not-owned": { status: 403, title: "The cluster does not own this address or range" },
  "not-found": { status: 404, title: "No such resource" },
  "conflict": { status: 409, title: "The change conflicts with existing state" },
  "overlap": { status: 409, title: "The range overlaps one that already exists" },
  "in-use": { status: 409, title: "The resource is still referenced" },
  // If-Match named a version of the resource that is no longer (or was never) the current one.
  "precondition-failed": { status: 412, title: "The resource changed since it was read (If-Match does not hold)" },
  "payload-too-large": { status: 413, title: "The request body is larger than the limit" },
  "unsupported-media-type": { status: 415, title: "The request body must be application/json" },
  "validation-failed": { status: 422, title: "The request is not valid" },
  "quota-exceeded": { status: 403, title: "The cluster's quota does not allow this" },
  // Its `conflicts` extension member lists each allowing rule with the floor rule that denies the same traffic.
  "floor-conflict": { status: 403, title: "The policy allows what an admin's floor denies" },
  "rate-limited": { status: 429, title: "Too many requests; retry later" },
  "apply-failed": { status: 500, title: "The change is stored, but the data plane could not apply it" },
  "apply-timeout": { status: 504, title: "The change is stored, but the data plane did not apply it in time" },
  // Its `rule` extension member names the rule the message broke (e.g. `message-columns`, `mappings-disjoint`).
  "replication-refused": { status: 422, title: "The replication message breaks a rule of the store and was not applied" },
  "replication-timeout": { status: 504, title: "The change is stored, but a reachable peer did not confirm it in time" },
  // A follower's refusals of a replication message. Each tells the leader to do something else (resend from
  // the follower's position, re-seed it with a snapshot, take a newer epoch, stop), so each is a code of its
  // own, not a detail of `conflict`. Status and wire `code` are what earlier versions sent (they overrode
  // `conflict` through `extra`), so gateways of mixed versions still understand each other's refusals.
  "out-of-sync": { status: 409, title: "The message does not continue this gateway's history" },
  "digest-mismatch": { status: 409, title: "The configuration differs from the leader's at the same revision" },
  "not-follower": { status: 409, title: "This gateway leads and accepts no replication messages" },
  "stale-epoch": { status: 409, title: "The message comes from an older leadership epoch" },
  "stale-message": { status: 409, title: "The message would take this gateway back to an older revision" },
  // The peer gateway, seen from this one: it could not be reached at all, or it answered with an error.
  "peer-unreachable": { status: 503, title: "The peer gateway could not be reached" },
  "peer-failed": { status: 502, title: "The peer gateway answered with an error" },
  // The peer's replication protocol version (appliance/replication/protocol.ts) is not one this gateway speaks.
  // Its `gateway` and `peer` extension members name both gateways and the versions each speaks.
  "incompatible-peer": { status: 409, title: "The message is written in a replication protocol version this gateway does not speak" },
  "not-ready": { status: 503, title: "The gateway is not ready" },
  "translation-log-off": { status: 404, title: "This gateway keeps no translation log" },
  // A lookup in the translation log ran past its time budget and was stopped: the question must be narrower.
  "lookup-too-costly": { status: 503, title: "The lookup would take too long; narrow the question" },
  "internal": { status: 500, title: "Internal error" },
  "config-invalid": { status: 500, title: "The configuration file is not valid" },
  "database-too-new": { status: 500, title: "The database was written by a newer version" },
  "database-corrupt": { status: 500, title: "The database failed its integrity check" },
  "command-failed": { status: 500, title: "A system command failed" },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** One problem with one input field, in RFC 9457 extension form. */
export interface FieldProblem {
  /** Dotted path into the request body or config, e.g. `mappings.2.sourceCidr`. */
  field: string;
  reason: string;
}

/**
 * The members of a problem document that the catalogue and RFC 9457 define. An error's `extra` adds members
 * beside them and can never replace one: a code on the wire is always a catalogue code, with its own type,
 * title and status.
 */
export const PROBLEM_MEMBERS = ["type", "title", "status", "detail", "instance", "code", "fields"] as const;

/** Extension members of a problem document (e.g. the conflicting resource); the standard ones are refused by type. */
export type ProblemExtra = Record<string, unknown> & { [member in (typeof PROBLEM_MEMBERS)[number]]?: never };

export interface AppErrorOptions {
  fields?: FieldProblem[];
  cause?: unknown;
  /** Extra machine-readable members for the problem document. */
  extra?: ProblemExtra;
  /** HTTP headers the answer needs to be actionable (Retry-After, WWW-Authenticate). */
  headers?: Record<string, string>;
}

export class AppError extends Error {
  readonly status: number;
  readonly title: string;
  readonly fields: FieldProblem[];
  readonly extra: ProblemExtra;
  readonly headers: Record<string, string>;

  constructor(readonly code: ErrorCode, detail: string, options: AppErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.status = ERROR_CATALOGUE[code].status;
    this.title = ERROR_CATALOGUE[code].title;
    this.fields = options.fields ?? [];
    this.extra = extensionsOnly(options.extra ?? {});
    this.headers = options.headers ?? {};
  }
}

/** The type keeps standard members out of `extra`; this keeps out one smuggled past it with a cast. */
function extensionsOnly(extra: ProblemExtra): ProblemExtra {
  const standard: readonly string[] = PROBLEM_MEMBERS;
  if (!Object.keys(extra).some((key) => standard.includes(key))) return extra;
  return Object.fromEntries(Object.entries(extra).filter(([key]) => !standard.includes(key))) as ProblemExtra;
}

/** Shorthand for the common one-field validation error. */
export function invalidField(field: string, reason: string, detail?: string): AppError {
  return new AppError("validation-failed", detail ?? `${field}: ${reason}`, { fields: [{ field, reason }] });
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
