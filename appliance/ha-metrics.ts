import { Gauge, type Registry } from "prom-client";

/** The VRRP roles a gateway reports; every one is a series, 1 for the current role and 0 for the others. */
export const VRRP_ROLES = ["master", "backup", "fault", "unknown"] as const;

/** What the HA metrics read at scrape time (HaMode's role tracker and replicator, structurally). */
export interface HaMetricSources {
  /** This gateway's name: the `gateway` label, so that a pair's series stay apart whatever the scrape labels. */
  gateway: string;
  role(): string;
  storeRevision(): number;
  /** While leading: each follower's last confirmed revision (null: none since this gateway leads) and when (ms). */
  confirmations(): { peer: string; revision: number | null; atMs: number }[];
}

/**
 * The group's health as Prometheus sees it: the role of each gateway, one series per role in the way
 * kube-state-metrics exposes states (a query for "no master" is then a max over the pair), and on the leader
 * how far each follower is behind and when it last confirmed. A timestamp rather than an age: Prometheus computes
 * the age at query time (`time() - …`), and a timestamp that stops moving is visible even between scrapes.
 */
export function registerHaMetrics(registry: Registry, sources: HaMetricSources): void {
  new Gauge({
    name: "egw_ha_role", help: "1 for this gateway's current VRRP role (master, backup, fault, unknown), 0 for the others",
    labelNames: ["gateway", "role"], registers: [registry],
    collect() {
      const current = sources.role();
      for (const role of VRRP_ROLES) this.set({ gateway: sources.gateway, role }, role === current ? 1 : 0);
    },
  });
  new Gauge({
    name: "egw_replication_peer_lag_revisions", help: "On the leader: revisions each follower has not confirmed yet (absent until it first confirms)",
    labelNames: ["peer"], registers: [registry],
    collect() {
      const revision = sources.storeRevision();
      this.reset();
      for (const c of sources.confirmations()) if (c.revision !== null) this.set({ peer: c.peer }, Math.max(0, revision - c.revision));
    },
  });
  new Gauge({
    name: "egw_replication_peer_last_confirmed_timestamp_seconds",
    help: "On the leader: Unix time at which each follower last confirmed a push or a heartbeat (or at which this gateway began leading, if it has not since)",
    labelNames: ["peer"], registers: [registry],
    collect() {
      this.reset();
      for (const c of sources.confirmations()) this.set({ peer: c.peer }, c.atMs / 1000);
    },
  });
}
