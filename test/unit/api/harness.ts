/**
 * A small harness for driving the REST API the hono way: `app.request(path, init)`, no port, no server.
 * It builds an in-memory store, a fake data plane the test controls, and helpers to call as admin or as a
 * cluster and to snapshot the whole store, so a test can assert that a rejected request changed nothing.
 */
import assert from "node:assert/strict";
import { pino } from "pino";
import { Gauge, Registry } from "prom-client";
import { createApp, API_VERSION } from "../../../api/app.js";
import type { ApiDeps } from "../../../api/context.js";
import { AppError } from "../../../appliance/errors.js";
import type { Quotas } from "../../../appliance/model.js";
import { DEFAULT_CLUSTER_QUOTAS } from "../../../appliance/service/quotas.js";
import { MIGRATIONS_DIR } from "../../../appliance/paths.js";
import type { ApplyReport } from "../../../appliance/reconcile/reconciler.js";
import { StaticOwnAddresses } from "../../../appliance/service/own-addresses.js";
import { openDatabase, type Db } from "../../../appliance/store/database.js";
import { migrate, readMigrations } from "../../../appliance/store/migrate.js";
import { Store } from "../../../appliance/store/store.js";

/** Response bodies are whatever JSON the API sent; tests inspect them field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Body = any;

export const ADMIN_TOKEN = "admin-token-0123456789abcdef0123456789abcdef";
/** A named admin token (api.adminTokens), audited as admin:alice. */
export const ALICE_TOKEN = "alice-token-Zq7vT2mR9xK4pL8wN3bH6cJ1dF5gS0aY";
export const OWN_ADDRESSES = ["203.0.113.1", "172.31.0.1", "2001:db8::1"];
export const BODY_LIMIT = 64 * 1024;
export const WAIT_TIMEOUT_MS = 5_000;

export type ApplyMode = "resolve" | "fail" | "timeout";

/** Stands in for the reconcile loop: what it has applied, whether it is ready, and how a wait ends. */
export class FakeDataplane {
  applied = 0;
  report: ApplyReport | undefined;
  isReady = false;
  mode: ApplyMode = "resolve";
  waits: { revision: number; timeoutMs: number }[] = [];

  appliedRevision(): number {
    return this.applied;
  }

  lastReport(): ApplyReport | undefined {
    return this.report;
  }

  ready(): boolean {
    return this.isReady;
  }

  async waitForRevision(revision: number, timeoutMs: number): Promise<void> {
    this.waits.push({ revision, timeoutMs });
    const at = new Date().toISOString();
    if (this.mode === "fail") {
      this.report = { revision, ok: false, at, durationMs: 1, kind: "incremental", error: "nft said no" };
      throw new AppError("apply-failed", `revision ${revision} could not be applied: nft said no`);
    }
    if (this.mode === "timeout") {
      throw new AppError("apply-timeout", `revision ${revision} was not applied within ${timeoutMs} ms`);
    }
    this.applied = Math.max(this.applied, revision);
    this.report = { revision, ok: true, at, durationMs: 1, kind: "incremental" };
  }
}

/** Daemon settings a test may change from their defaults. */
export interface HarnessOptions {
  quotas?: Partial<Quotas>;
  rateLimit?: ApiDeps["rateLimit"];
  authFailures?: ApiDeps["authFailures"];
  bodyLimitBytes?: number;
  /** How long a refused body is drained (the daemon's 2 s when absent). */
  bodyDrainMs?: number;
}

export interface CallOptions {
  token?: string | undefined;
  /** A value is sent as JSON; a string is sent as is (for malformed bodies). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Real HTTP/1.1 clients always send Content-Length for a fixed body; leave it out only on purpose. */
  omitContentLength?: boolean;
  /** The client's address as the Node server would report it; left out, the request has no socket (like the unix socket). */
  from?: string;
}

/** One row per table, every column, in a stable order; BLOBs as hex so diffs are readable. */
export type Snapshot = { revision: number; tables: Record<string, Record<string, unknown>[]> };

export class Harness {
  readonly db: Db;
  readonly store: Store;
  readonly dataplane = new FakeDataplane();
  readonly own = new StaticOwnAddresses(OWN_ADDRESSES, ["172.31.0.0/24", "fd00:172:31::/64"]);
  readonly metrics = new Registry();
  readonly deps: ApiDeps;
  readonly app: ReturnType<typeof createApp>;
  /** Revisions the store announced as committed, in order (what would trigger the data plane). */
  readonly commits: number[] = [];
  /** The limiters' clock, in milliseconds; tests move it by hand. */
  now = 1_000_000;

  constructor(options: HarnessOptions = {}) {
    this.db = openDatabase(":memory:");
    migrate(this.db, readMigrations(MIGRATIONS_DIR));
    this.store = new Store(this.db);
    this.store.on("committed", (revision) => this.commits.push(revision));
    const gauge = new Gauge({ name: "egw_test_harness_gauge", help: "A gauge the harness registers", registers: [this.metrics] });
    gauge.set(42);
    const dataplane = this.dataplane;
    const store = this.store;
    this.deps = {
      store,
      adminTokens: [{ name: "admin", token: ADMIN_TOKEN }, { name: "alice", token: ALICE_TOKEN }],
      own: this.own,
      dataplane: {
        appliedRevision: () => dataplane.appliedRevision(),
        lastReport: () => dataplane.lastReport(),
        waitForRevision: (revision, timeoutMs) => dataplane.waitForRevision(revision, timeoutMs),
        ready: () => dataplane.ready(),
      },
      status: () => {
        const revision = store.revision();
        return {
          gateway: "gw-test",
          role: "standalone" as const,
          version: API_VERSION,
          revision,
          appliedRevision: dataplane.appliedRevision(),
          inSync: dataplane.ready() && dataplane.appliedRevision() === revision,
          lastApply: dataplane.lastReport() ?? null,
          peers: [],
          warnings: [],
        };
      },
      metrics: this.metrics,
      bodyLimitBytes: options.bodyLimitBytes ?? BODY_LIMIT,
      ...(options.bodyDrainMs === undefined ? {} : { bodyDrainMs: options.bodyDrainMs }),
      waitTimeoutMs: WAIT_TIMEOUT_MS,
      clusterQuotaDefaults: { ...DEFAULT_CLUSTER_QUOTAS, ...options.quotas },
      rateLimit: options.rateLimit ?? { requestsPerSecond: 50, burst: 200 },
      authFailures: options.authFailures ?? { max: 20, windowMs: 60_000 },
      clock: () => this.now,
      log: pino({ enabled: false }),
    };
    this.app = createApp(this.deps);
  }

  /** A raw request, exactly as given. */
  async raw(path: string, init: RequestInit = {}): Promise<Response> {
    return this.app.request(path, init);
  }

  async call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["content-type"] = "application/json";
      if (!options.omitContentLength) headers["content-length"] = String(Buffer.byteLength(body));
    }
    if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`;
    Object.assign(headers, options.headers ?? {});
    return this.app.request(path, { method, headers, ...(body === undefined ? {} : { body }) }, options.from === undefined ? undefined : nodeEnv(options.from));
  }

  admin(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response> {
    return this.call(method, path, { token: ADMIN_TOKEN, body, ...(headers ? { headers } : {}) });
  }

  as(token: string, method: string, path: string, body?: unknown): Promise<Response> {
    return this.call(method, path, { token, body });
  }

  revision(): number {
    return this.store.revision();
  }

  snapshot(): Snapshot {
    const tables = (this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all() as { name: string }[]).map((t) => t.name);
    const out: Snapshot["tables"] = {};
    for (const table of tables) {
      const rows = this.db.prepare(`SELECT * FROM "${table}" ORDER BY 1, 2`).all() as Record<string, unknown>[];
      out[table] = rows.map((row) => Object.fromEntries(Object.entries(row)
        .map(([key, value]) => [key, Buffer.isBuffer(value) ? `0x${value.toString("hex")}` : value])));
    }
    return { revision: this.store.revision(), tables: out };
  }

  audit(): AuditRow[] {
    return this.db.prepare("SELECT id, revision, actor, action, resource, before, after, request_id FROM audit_log ORDER BY id").all() as AuditRow[];
  }

  auditCount(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM audit_log").get() as { n: number }).n;
  }

  /** Runs `request`, then asserts that the store and the data plane saw no change at all. */
  async unchanged(request: () => Promise<Response>): Promise<Response> {
    const before = this.snapshot();
    const commits = this.commits.length;
    const waits = this.dataplane.waits.length;
    const response = await request();
    assert.deepStrictEqual(this.snapshot(), before, "the request must leave the store exactly as it was");
    assert.equal(this.commits.length, commits, "the request must not commit a revision");
    assert.equal(this.dataplane.waits.length, waits, "the request must not wait on the data plane");
    return response;
  }
}

/** The bindings @hono/node-server gives a request, as far as getConnInfo reads them. */
export function nodeEnv(remoteAddress: string): { incoming: { socket: { remoteAddress: string; remotePort: number; remoteFamily: string } } } {
  return { incoming: { socket: { remoteAddress, remotePort: 40_000, remoteFamily: remoteAddress.includes(":") ? "IPv6" : "IPv4" } } };
}

export interface AuditRow {
  id: number;
  revision: number;
  actor: string;
  action: string;
  resource: string;
  before: string | null;
  after: string | null;
  /** The X-Request-Id of the API request that wrote it (null on a replica, or before migration 006). */
  request_id: string | null;
}

export async function json(response: Response): Promise<Body> {
  const text = await response.text();
  try {
    return JSON.parse(text) as Body;
  } catch {
    assert.fail(`expected a JSON body, got ${JSON.stringify(text.slice(0, 200))}`);
  }
}

/**
 * Asserts an RFC 9457 problem document with the given status and code; with `field`, also that the
 * per-field list names it. Returns the body for further checks.
 */
export async function expectProblem(response: Response, status: number, code: string, field?: string): Promise<Body> {
  const body = await json(response);
  assert.equal(response.status, status, `status (body: ${JSON.stringify(body)})`);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  assert.equal(body.code, code, `code (body: ${JSON.stringify(body)})`);
  assert.equal(body.status, status);
  assert.equal(body.type, `https://egw.dev/problems/${code}`);
  assert.equal(typeof body.title, "string");
  assert.ok(body.title.length > 0, "title must not be empty");
  assert.equal(typeof body.detail, "string");
  assert.ok(body.detail.length > 0, "detail must not be empty");
  if (field !== undefined) {
    assert.ok(Array.isArray(body.fields), `expected a fields list naming ${field}, got ${JSON.stringify(body)}`);
    assert.ok((body.fields as { field: string }[]).some((f) => f.field === field),
      `expected a fields entry for ${field}, got ${JSON.stringify(body.fields)}`);
  }
  return body;
}

/** The reason given for one field of a problem document. */
export function reasonFor(problem: Body, field: string): string {
  const entry = (problem.fields as { field: string; reason: string }[] | undefined)?.find((f) => f.field === field);
  assert.ok(entry, `no fields entry for ${field} in ${JSON.stringify(problem)}`);
  return entry.reason;
}

export async function expectStatus(response: Response, status: number): Promise<Body> {
  const text = await response.text();
  assert.equal(response.status, status, `status (body: ${text.slice(0, 500)})`);
  return text === "" ? undefined : (JSON.parse(text) as Body);
}

export interface Tenants {
  h: Harness;
  /** Cluster token secrets and ids. */
  alpha: { token: string; id: string };
  beta: { token: string; id: string };
}

/**
 * The common fixture, built through the API as an admin would:
 * - egress IPs 203.0.113.10, .11 and 2001:db8::10 granted to cluster alpha; 203.0.113.20 granted to beta;
 *   203.0.113.30 and 2001:db8::30 free;
 * - alpha owns 10.244.0.0/16 and fd00:10:244::/48; beta owns 10.245.0.0/16;
 * - one token each.
 */
export async function tenants(h: Harness = new Harness()): Promise<Tenants> {
  for (const address of ["203.0.113.10", "203.0.113.11", "203.0.113.20", "203.0.113.30", "2001:db8::10", "2001:db8::30"]) {
    await expectStatus(await h.admin("POST", "/v1/egress-ips", { address }), 201);
  }
  await expectStatus(await h.admin("POST", "/v1/clusters", {
    name: "alpha", description: "first", sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"],
    egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10"],
  }), 201);
  await expectStatus(await h.admin("POST", "/v1/clusters", {
    name: "beta", sourceRanges: ["10.245.0.0/16"], egressIps: ["203.0.113.20"],
  }), 201);
  const alpha = await expectStatus(await h.admin("POST", "/v1/clusters/alpha/tokens", { description: "alpha automation" }), 201);
  const beta = await expectStatus(await h.admin("POST", "/v1/clusters/beta/tokens", { description: "beta automation" }), 201);
  return { h, alpha: { token: alpha.token, id: alpha.id }, beta: { token: beta.token, id: beta.id } };
}

/** Grants a cluster of the fixture excludable destinations, keeping its other grants. */
export async function grantExclusions(h: Harness, cluster: string, excludableDestinations: string[], quotas: Record<string, number> = {}): Promise<void> {
  const current = await expectStatus(await h.admin("GET", `/v1/clusters/${cluster}`), 200);
  await expectStatus(await h.admin("PUT", `/v1/clusters/${cluster}`, {
    description: current.description, sourceRanges: current.sourceRanges, egressIps: current.egressIps, excludableDestinations, quotas,
  }), 200);
}

/** A valid mapping of cluster alpha. */
export function erp(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: "erp", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", labels: { namespace: "erp" }, ...overrides };
}
