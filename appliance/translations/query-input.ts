import { AppError, type FieldProblem } from "../errors.js";
import { parseAddress } from "../net/cidr.js";
import type { TranslationQuery, TransportProtocol } from "../translation-model.js";

/** The widest time range one answer covers; a longer investigation pages through several questions. */
export const MAX_RANGE_MS = 24 * 60 * 60 * 1000;

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** A reverse lookup as the API receives it: every field already of the right type, none yet checked in meaning. */
export interface TranslationQueryInput {
  egressIp?: string;
  egressPort?: number;
  podIp?: string;
  destinationIp?: string;
  destinationPort?: number;
  protocol?: TransportProtocol;
  at?: string;
  from?: string;
  to?: string;
  limit: number;
}

/**
 * Checks a lookup in meaning and collects every problem with its field: canonical addresses, RFC 3339 times
 * (Date.parse alone accepts "2026" or "12/02"), a port only with its address, an instant or a closed range no
 * wider than MAX_RANGE_MS, and at least one selector, so that no question scans the whole log.
 */
export function parseTranslationQuery(input: TranslationQueryInput): Omit<TranslationQuery, "clusters" | "cursor"> {
  const problems: FieldProblem[] = [];
  const address = (text: string | undefined, field: string): string | undefined => {
    if (text === undefined) return undefined;
    try {
      return parseAddress(text, field).address;
    } catch {
      problems.push({ field, reason: `${JSON.stringify(text)} is not an IPv4 or IPv6 address` });
      return undefined;
    }
  };
  const time = (text: string | undefined, field: string): number | undefined => {
    if (text === undefined) return undefined;
    const ms = RFC3339.test(text) ? Date.parse(text.replace(" ", "T")) : Number.NaN;
    if (Number.isNaN(ms)) {
      problems.push({ field, reason: `${JSON.stringify(text)} is not an RFC 3339 time with a zone, e.g. 2026-12-02T12:03:55Z` });
      return undefined;
    }
    return ms;
  };
  const egressAddress = address(input.egressIp, "egressIp");
  const podAddress = address(input.podIp, "podIp");
  const destinationAddress = address(input.destinationIp, "destinationIp");
  const atMs = time(input.at, "at");
  const fromMs = time(input.from, "from");
  const toMs = time(input.to, "to");

  if (input.egressPort !== undefined && input.egressIp === undefined) problems.push({ field: "egressPort", reason: "needs egressIp" });
  if (input.destinationPort !== undefined && input.destinationIp === undefined) problems.push({ field: "destinationPort", reason: "needs destinationIp" });
  if (input.egressIp === undefined && input.podIp === undefined && input.destinationIp === undefined) {
    problems.push({ field: "egressIp", reason: "give at least one of egressIp, podIp or destinationIp" });
  }
  if (input.at !== undefined && (input.from !== undefined || input.to !== undefined)) {
    problems.push({ field: "at", reason: "give either at, or from and to, not both" });
  } else if (input.at === undefined) {
    if (input.from === undefined && input.to === undefined) problems.push({ field: "at", reason: "give at (an instant), or from and to (a range)" });
    else if (input.to === undefined) problems.push({ field: "to", reason: "a range needs an end" });
    else if (input.from === undefined) problems.push({ field: "from", reason: "a range needs a start" });
    else if (fromMs !== undefined && toMs !== undefined) {
      if (toMs < fromMs) problems.push({ field: "to", reason: "must not be before from" });
      else if (toMs - fromMs > MAX_RANGE_MS) problems.push({ field: "to", reason: `the range is wider than ${MAX_RANGE_MS / 3_600_000} hours; ask in parts` });
    }
  }
  if (problems.length > 0) {
    throw new AppError("validation-failed", problems.map((p) => `${p.field}: ${p.reason}`).join("; "), { fields: problems });
  }
  return {
    ...(egressAddress === undefined ? {} : { egressAddress }),
    ...(input.egressPort === undefined ? {} : { egressPort: input.egressPort }),
    ...(podAddress === undefined ? {} : { podAddress }),
    ...(destinationAddress === undefined ? {} : { destinationAddress }),
    ...(input.destinationPort === undefined ? {} : { destinationPort: input.destinationPort }),
    ...(input.protocol === undefined ? {} : { protocol: input.protocol }),
    ...(atMs === undefined ? {} : { atMs }),
    ...(fromMs === undefined ? {} : { fromMs }),
    ...(toMs === undefined ? {} : { toMs }),
    limit: input.limit,
  };
}
