import { Counter, Gauge, type Registry } from "prom-client";
import { CachedReading } from "../cached-reading.js";
import type { EgressPolicy, PolicyFloor } from "../model.js";
import { floorCounter, ruleCounter, unmatchedCounter } from "../policy/compile.js";
import type { NameStatus } from "../policy/name-cache.js";

export interface PolicyMetricSources {
  /** Packets per named counter of our table (NftClient.readCounters). */
  counters(): Promise<Map<string, { packets: number }>>;
  /** The policy that governs each mapping that has one. */
  governed(): { cluster: string; mapping: string; policy: EgressPolicy }[];
  floors(): PolicyFloor[];
  names(): NameStatus[];
}

/** What a connection no rule allowed meets, by the policy's mode and default action. */
export function unmatchedOutcome(policy: Pick<EgressPolicy, "mode" | "defaultAction">): "refused" | "audited" | "passed" {
  if (policy.defaultAction === "allow") return "passed";
  return policy.mode === "audit" ? "audited" : "refused";
}

/**
 * The egress policy's metrics, from the kernel's counters (read at most every `maxAgeMs`, however many scrapes):
 * new connections per mapping by outcome, floor refusals per floor, DNS names by state and lookups by outcome.
 * Returns the sink the name cache counts its lookups into.
 */
export function registerPolicyMetrics(registry: Registry, sources: PolicyMetricSources, maxAgeMs: number, onReadError: () => void) {
  const counters = new CachedReading(() => sources.counters(), maxAgeMs);
  const read = () => counters.get().catch(() => {
    onReadError();
    return undefined;
  });
  new Counter({
    name: "egw_policy_connections_total",
    help: "New connections of each governed mapping by outcome: allowed (by a rule), refused, audited (would be refused; passed) or passed (no rule, defaultAction allow). Since the table was last built.",
    labelNames: ["cluster", "mapping", "outcome"], registers: [registry],
    async collect() {
      const values = await read();
      // Reset and refill in one synchronous step: concurrent scrapes must never add their readings up.
      this.reset();
      if (!values) return;
      for (const { cluster, mapping, policy } of sources.governed()) {
        const allowed = policy.rules.reduce((sum, _rule, i) => sum + (values.get(ruleCounter(cluster, mapping, i))?.packets ?? 0), 0);
        this.inc({ cluster, mapping, outcome: "allowed" }, allowed);
        this.inc({ cluster, mapping, outcome: unmatchedOutcome(policy) }, values.get(unmatchedCounter(cluster, mapping))?.packets ?? 0);
      }
    },
  });
  new Counter({
    name: "egw_policy_floor_refusals_total", help: "New connections each floor rule refused (scope: global or the cluster's name)",
    labelNames: ["scope", "rule"], registers: [registry],
    async collect() {
      const values = await read();
      this.reset();
      if (!values) return;
      for (const floor of sources.floors()) {
        floor.rules.forEach((_rule, i) => this.inc({ scope: floor.cluster ?? "global", rule: String(i) }, values.get(floorCounter(floor.cluster, i))?.packets ?? 0));
      }
    },
  });
  new Gauge({
    name: "egw_policy_dns_names", help: "DNS names of policy rules by state (failing: the last lookup failed; their last good addresses stay until they expire)",
    labelNames: ["state"], registers: [registry],
    collect() {
      this.reset();
      for (const state of ["pending", "resolved", "failing"] as const) this.set({ state }, sources.names().filter((n) => n.state === state).length);
    },
  });
  const lookups = new Counter({ name: "egw_policy_dns_lookups_total", help: "Lookups of policy DNS names by outcome (answer, failed)", labelNames: ["outcome"], registers: [registry] });
  return { resolution: (outcome: "answer" | "failed") => lookups.inc({ outcome }) };
}
