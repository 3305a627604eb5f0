import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

/** docs/examples/grafana-dashboard.json as the tests read it. */
export interface DashboardPanel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  datasource?: unknown;
  targets?: { expr?: unknown; refId?: unknown; datasource?: unknown }[];
  panels?: DashboardPanel[];
}

export const DASHBOARD_PATH = join(PACKAGE_ROOT, "docs", "examples", "grafana-dashboard.json");

export function readDashboard(): Record<string, unknown> & { panels: DashboardPanel[] } {
  return JSON.parse(readFileSync(DASHBOARD_PATH, "utf8")) as Record<string, unknown> & { panels: DashboardPanel[] };
}

/** Every panel, those inside collapsed rows included. */
export function allPanels(panels: DashboardPanel[]): DashboardPanel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/**
 * Grafana's variables as values PromQL accepts, so that promtool can parse the expressions: the dashboard's own
 * variables match everything, and $__rate_interval is a duration.
 */
export function concreteExpr(expr: string): string {
  return expr.replaceAll("$__rate_interval", "5m").replaceAll("$__interval", "1m").replaceAll("$__range", "1h")
    .replaceAll("$job", ".*").replaceAll("$instance", ".*");
}

/** Each panel's expressions, titled for messages. */
export function dashboardExpressions(): { panel: string; expr: string }[] {
  return allPanels(readDashboard().panels).flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: String(panel.title), expr: String(target.expr) })));
}
