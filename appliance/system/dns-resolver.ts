import { Resolver } from "node:dns/promises";
import { isIPv4, isIPv6 } from "node:net";
import { errorMessage, invalidField } from "../errors.js";

/** One address of an answer with its record's TTL in seconds, as the server gave it (not clamped, not canonical). */
export interface AnsweredAddress {
  address: string;
  ttl: number;
}

/**
 * What one lookup of a name came to. An answer may hold no address (NXDOMAIN, NODATA): that is what the name is
 * now, not a failure. A failure says nothing about the name, so whoever holds addresses keeps them.
 */
export type DnsLookup =
  /** `partialFailure`: one family's query failed; the addresses are the other family's answer. */
  | { status: "answer"; addresses: AnsweredAddress[]; partialFailure?: string }
  | { status: "failed"; error: string };

export interface DnsResolverOptions {
  /** `1.2.3.4`, `1.2.3.4:5353`, `2001:db8::1`, `[2001:db8::1]:5353`; empty: the system's (/etc/resolv.conf). */
  servers: readonly string[];
  /** Per try, as c-ares counts it. */
  timeoutMs: number;
  tries: number;
}

/** The name has no records of that type, or does not exist: an empty answer for that family. */
const EMPTY_ANSWER_CODES = new Set(["ENODATA", "ENOTFOUND"]);

/**
 * Checks one server as the configuration names it and returns it in the form c-ares takes. An IPv6 server with a
 * port must be bracketed; a zone index is refused (c-ares would not honour it the way an operator expects).
 */
export function parseDnsServer(text: string, field: string): string {
  const trimmed = text.trim();
  const bracketed = /^\[([^\]]*)\](?::(\d{1,5}))?$/.exec(trimmed);
  const ipv4WithPort = /^([0-9.]+):(\d{1,5})$/.exec(trimmed);
  const [host, port, valid] = bracketed
    ? [bracketed[1] ?? "", bracketed[2], isIPv6(bracketed[1] ?? "")]
    : ipv4WithPort
      ? [ipv4WithPort[1] ?? "", ipv4WithPort[2], isIPv4(ipv4WithPort[1] ?? "")]
      : [trimmed, undefined, isIPv4(trimmed) || isIPv6(trimmed)];
  if (!valid || host.includes("%")) {
    throw invalidField(field, `"${text}" is not a DNS server address (1.2.3.4, 1.2.3.4:5353, 2001:db8::1 or [2001:db8::1]:5353)`);
  }
  if (port === undefined) return host;
  if (Number(port) < 1 || Number(port) > 65_535) throw invalidField(field, `port "${port}" must be 1 to 65535`);
  return bracketed ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The policy's DNS client: A and AAAA of one name, with TTLs. The only part of the name resolution that talks to
 * the network; the cache that decides what to keep (appliance/policy/name-cache.ts) only sees `lookup`.
 */
export class DnsResolver {
  private readonly servers: string[];
  private readonly inFlight = new Set<Resolver>();

  constructor(private readonly options: DnsResolverOptions) {
    this.servers = options.servers.map((server, index) => parseDnsServer(server, `servers.${index}`));
  }

  /**
   * A resolver of its own for every lookup. c-ares 1.31+ caches answers (up to an hour, NODATA included) unless told
   * not to, and Node releases before the fix (Debian 13's Node 20.19 among them) do not tell it: a changed record
   * would be seen late and a dead server hidden behind the cache. A fresh channel has nothing cached.
   */
  async lookup(name: string): Promise<DnsLookup> {
    const resolver = new Resolver({ timeout: this.options.timeoutMs, tries: this.options.tries });
    if (this.servers.length > 0) resolver.setServers(this.servers);
    this.inFlight.add(resolver);
    try {
      const [v4, v6] = await Promise.allSettled([resolver.resolve4(name, { ttl: true }), resolver.resolve6(name, { ttl: true })]);
      return combineFamilies(v4, v6);
    } finally {
      this.inFlight.delete(resolver);
    }
  }

  /** Ends queries in flight (they fail with ECANCELLED); for shutdown. */
  cancel(): void {
    for (const resolver of this.inFlight) resolver.cancel();
  }
}

type FamilyResult = PromiseSettledResult<readonly AnsweredAddress[]>;

/**
 * One lookup from its two queries. Both failing fail the lookup. One failing (a server that refuses AAAA, say) gives
 * the other family's answer with `partialFailure`: the cache then refreshes that family and keeps the failed one's
 * addresses until they expire, as for a failure, so a half answer never looks as if the other family had gone.
 */
export function combineFamilies(v4: FamilyResult, v6: FamilyResult): DnsLookup {
  const failed = (result: FamilyResult) => result.status === "rejected" && !EMPTY_ANSWER_CODES.has(codeOf(result.reason));
  const failures = [v4, v6].flatMap((result, index) => (failed(result) && result.status === "rejected"
    ? [`${index === 0 ? "A" : "AAAA"}: ${describe(result.reason)}`] : []));
  if (failures.length === 2) return { status: "failed", error: failures.join("; ") };
  const addresses = [v4, v6].flatMap((result) => (result.status === "fulfilled" ? result.value : []));
  const answer = addresses.map(({ address, ttl }) => ({ address, ttl }));
  return failures.length === 0 ? { status: "answer", addresses: answer } : { status: "answer", addresses: answer, partialFailure: failures.join("; ") };
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

function describe(error: unknown): string {
  const code = codeOf(error);
  const message = errorMessage(error);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}
