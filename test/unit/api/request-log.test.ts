import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { createApp } from "../../../api/app.js";
import { requestIdFrom } from "../../../api/middleware/request-log.js";
import type { HttpObservation } from "../../../appliance/http-metrics.js";
import { ADMIN_TOKEN, Harness } from "./harness.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The harness's API with a logger and a metrics recorder the test reads. */
function logged(overrides: Partial<Harness["deps"]> = {}) {
  const h = new Harness();
  const lines: Record<string, unknown>[] = [];
  const observed: HttpObservation[] = [];
  const log = pino({ level: "info", formatters: { level: (label) => ({ level: label }) } }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const app = createApp({ ...h.deps, log, recordRequest: (o) => observed.push(o), ...overrides });
  const call = (method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) => app.request(path, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const requests = () => lines.filter((l) => l["msg"] === "request");
  return { h, call, requests, observed };
}

describe("request log and request id", () => {
  it("one line per request with method, route pattern, status, duration, actor, id and client; the id echoed and counted", async () => {
    const { call, requests, observed } = logged();
    const response = await call("GET", "/v1/egress-ips", { token: ADMIN_TOKEN });
    assert.equal(response.status, 200);
    const id = response.headers.get("X-Request-Id");
    assert.match(id ?? "", UUID, "a new random id when the client sent none");
    assert.equal(requests().length, 1);
    const [line] = requests();
    assert.deepEqual({ ...line, durationMs: typeof line?.["durationMs"] }, {
      ...line, level: "info", requestId: id, method: "GET", route: "/v1/egress-ips", status: 200, actor: "admin", client: "unix", durationMs: "number",
    });
    assert.equal(observed.length, 1);
    assert.deepEqual({ ...observed[0], durationSeconds: 0 }, { route: "/v1/egress-ips", method: "GET", status: 200, durationSeconds: 0 });
    assert.ok((observed[0]?.durationSeconds ?? -1) >= 0);
  });

  it("labels a request by its route's pattern, never its raw path: a handler's 404 keeps the pattern, no route at all is 'unmatched'", async () => {
    const { call, observed } = logged();
    assert.equal((await call("GET", "/v1/clusters/no-such-cluster/mappings", { token: ADMIN_TOKEN })).status, 404);
    assert.equal((await call("GET", "/v1/no-such-thing/at-all", { token: ADMIN_TOKEN })).status, 404);
    assert.equal((await call("GET", "/nothing", {})).status, 404);
    assert.deepEqual(observed.map((o) => [o.route, o.status]), [
      ["/v1/clusters/:name/mappings", 404], ["unmatched", 404], ["unmatched", 404],
    ]);
  });

  it("honours an acceptable X-Request-Id, and carries it into the audit record of the write", async () => {
    const { h, call, requests } = logged();
    const response = await call("POST", "/v1/egress-ips", { token: ADMIN_TOKEN, body: { address: "203.0.113.10" }, headers: { "X-Request-Id": "ci-run-42/step-3" } });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get("X-Request-Id"), "ci-run-42/step-3");
    assert.equal(requests()[0]?.["requestId"], "ci-run-42/step-3");
    assert.equal(requests()[0]?.["route"], "/v1/egress-ips");
    assert.deepEqual(h.audit().map((a) => [a.resource, a.request_id]), [["egress-ips/203.0.113.10", "ci-run-42/step-3"]]);
  });

  it("a 401 carries the id too (the id comes before authentication), with no actor", async () => {
    const { call, requests } = logged();
    const response = await call("GET", "/v1/egress-ips", { headers: { "X-Request-Id": "abc-123" } });
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("X-Request-Id"), "abc-123");
    assert.deepEqual([requests()[0]?.["status"], requests()[0]?.["actor"], requests()[0]?.["level"]], [401, null, "info"]);
  });

  it("a request a middleware refused keeps its route's pattern; a path no route has stays unmatched", async () => {
    const { call, observed } = logged();
    assert.equal((await call("GET", "/v1/clusters/alpha/mappings", {})).status, 401);
    assert.equal((await call("GET", "/v1/made-up/path", {})).status, 401);
    assert.deepEqual(observed.map((o) => [o.route, o.status]), [["/v1/clusters/:name/mappings", 401], ["unmatched", 401]]);
  });

  it("health probes and scrapes are logged at debug (counted all the same), so they do not bury the API's lines", async () => {
    const { call, requests, observed } = logged();
    assert.equal((await call("GET", "/healthz")).status, 200);
    assert.deepEqual(requests(), [], "not at info");
    assert.deepEqual(observed.map((o) => o.route), ["/healthz"]);
  });

  it("a 5xx is logged at error", async () => {
    const { call, requests } = logged({
      status: () => {
        throw new Error("status view broke");
      },
    });
    const response = await call("GET", "/v1/status", { token: ADMIN_TOKEN });
    assert.equal(response.status, 500);
    assert.match(response.headers.get("X-Request-Id") ?? "", UUID);
    assert.deepEqual([requests()[0]?.["level"], requests()[0]?.["status"], requests()[0]?.["route"]], ["error", 500, "/v1/status"]);
  });
});

describe("requestIdFrom", () => {
  it("keeps printable ASCII up to 128 characters", () => {
    for (const id of ["a", "0f6c1c1e-9b8a-4d8f-a3a5-6b1f1e2d3c4b", "ci-run-42/step-3", "x".repeat(128), "!~"]) assert.equal(requestIdFrom(id), id);
  });

  it("replaces anything else with a new random id: never logs or echoes a client's junk", () => {
    for (const bad of ["", "has space", "x".repeat(129), "tab\there", "new\nline", "été", "\u0000", "\u007f"]) {
      const id = requestIdFrom(bad);
      assert.notEqual(id, bad);
      assert.match(id, UUID, JSON.stringify(bad));
    }
    assert.match(requestIdFrom(undefined), UUID);
    assert.notEqual(requestIdFrom(undefined), requestIdFrom(undefined));
  });
});
