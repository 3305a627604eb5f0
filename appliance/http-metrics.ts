import { Counter, Histogram, type Registry } from "prom-client";

/** The route label of a request no route matched: the raw path would let any client add series. */
export const UNMATCHED_ROUTE = "unmatched";

/** One API request as the request log saw it; `route` is the matched pattern, never the raw path. */
export interface HttpObservation {
  route: string;
  method: string;
  status: number;
  durationSeconds: number;
}

/**
 * HTTP requests by route pattern, method and status, and their latency by route and method. A write with
 * `?wait=true` waits for the data plane (up to api.waitTimeoutMs), hence the buckets up to 30 s.
 */
export function registerHttpMetrics(registry: Registry): (observation: HttpObservation) => void {
  const requests = new Counter({
    name: "egw_http_requests_total", help: "API requests answered, by route pattern, method and status",
    labelNames: ["route", "method", "status"], registers: [registry],
  });
  const duration = new Histogram({
    name: "egw_http_request_duration_seconds", help: "Time from a request's arrival to its answer, by route pattern and method",
    labelNames: ["route", "method"], registers: [registry],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  return ({ route, method, status, durationSeconds }) => {
    requests.inc({ route, method, status: String(status) });
    duration.observe({ route, method }, durationSeconds);
  };
}
