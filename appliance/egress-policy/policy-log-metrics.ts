import { Counter, Gauge, type Registry } from "prom-client";
import type { PolicyLogStatus } from "./policy-log.js";

/**
 * The policy log's metrics, read from its running totals at scrape time (reset and refill in one synchronous
 * step, like the translation log's).
 */
export function registerPolicyLogMetrics(registry: Registry, status: () => PolicyLogStatus): void {
  new Gauge({
    name: "egw_policy_log_up", help: "1 while the policy log reads its NFLOG group; 0 while ulogd is not running (starting, restarting, missing) or the log is stopped or failed to start",
    registers: [registry],
    collect() {
      this.set(status().state === "running" ? 1 : 0);
    },
  });
  new Counter({
    name: "egw_policy_log_events_total", help: "Connections the data plane logged as refused by a policy (denied), by a floor (floor-denied), or that audit mode would refuse (audited); at most the kernel's log rate",
    labelNames: ["verdict"], registers: [registry],
    collect() {
      const current = status();
      this.reset();
      for (const [verdict, n] of Object.entries(current.events)) this.inc({ verdict }, n);
    },
  });
  new Counter({
    name: "egw_policy_log_unexplained_total", help: "Policy log lines it could not parse (unparsed), and events no mapping's source range explains (unattributed: logged with cluster null)",
    labelNames: ["reason"], registers: [registry],
    collect() {
      const current = status();
      this.reset();
      this.inc({ reason: "unparsed" }, current.unparsed);
      this.inc({ reason: "unattributed" }, current.unattributed);
    },
  });
}
