import { parsePrefix, prefixContains } from "../net/cidr.js";
import type { AuditEntry } from "../store/store.js";

/**
 * Whether a write takes something away: a token revoked; a cluster deleted or its grants (source ranges,
 * egress IPs) narrowed; an egress IP, mapping or route deleted; a whole-set PUT that removes or changes an
 * item (a changed mapping withdraws its old form). A revocation is acknowledged only once every reachable
 * peer has it: a revoked token must not keep working on the other gateway after the client was told it is
 * gone. Judged from the write's own audit records, so that it holds whichever route made the write.
 *
 * Unknown resources and unknown actions other than `create` count as revocations: waiting longer for a
 * write that did not need it costs a little time, the opposite mistake costs a tenant's isolation. Every write of
 * an egress policy or floor counts: each may take destinations away.
 */
export function isRevocation(entries: readonly AuditEntry[]): boolean {
  return entries.some(revokes);
}

export function revokes(entry: AuditEntry): boolean {
  const [kind, , child] = entry.resource.split("/");
  switch (entry.action) {
    case "create":
      // A new policy or floor takes away every destination it does not allow.
      return entry.resource.endsWith("/policy") || entry.resource.endsWith("policy-floor");
    case "revoke":
    case "delete":
      return true;
    case "replace":
      // The audit of a whole-set replace lists the items removed or changed under `before`.
      return !Array.isArray(entry.before) || entry.before.length > 0;
    case "update":
      if (kind === "egress-ips") return false; // only the description can change
      if (kind === "clusters" && child === undefined) return grantsNarrowed(entry.before, entry.after);
      return true;
    default:
      return true;
  }
}

interface Grants {
  sourceRanges: string[];
  egressIps: string[];
}

function isGrants(value: unknown): value is Grants {
  const v = value as Partial<Grants> | null | undefined;
  return Array.isArray(v?.sourceRanges) && Array.isArray(v?.egressIps);
}

/** A range still counts as granted when one of the new ranges covers it (a widening is no revocation). */
function grantsNarrowed(before: unknown, after: unknown): boolean {
  if (!isGrants(before) || !isGrants(after)) return true;
  if (before.egressIps.some((ip) => !after.egressIps.includes(ip))) return true;
  try {
    const now = after.sourceRanges.map((cidr) => parsePrefix(cidr, "sourceRanges"));
    return before.sourceRanges.some((cidr) => {
      const range = parsePrefix(cidr, "sourceRanges");
      return !now.some((outer) => prefixContains(outer, range));
    });
  } catch {
    return true;
  }
}
