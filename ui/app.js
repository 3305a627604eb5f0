/* global document, window, sessionStorage, fetch, AbortController, URLSearchParams, setTimeout, clearTimeout */
// The status page. Read-only: it polls the daemon's JSON API with the admin token the operator pasted and
// redraws the tables in place. Every value reaches the DOM through textContent, never as markup.

const POLL_MS = 2_000;
const REQUEST_TIMEOUT_MS = 5_000;
const TOKEN_KEY = "egw.adminToken";
const VIEWS = ["overview", "clusters", "audit", "ports", "lookup"];
/** A list the API pages is followed this many pages at most, so a huge store cannot stall the page. */
const MAX_PAGES = 20;
/** Items per page of a list (the API's maximum): few round trips, and a bounded answer each. */
const PAGE_SIZE = 1000;

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---- the API ---------------------------------------------------------------------------------------------

const token = () => sessionStorage.getItem(TOKEN_KEY) ?? "";

async function call(path, { text = false, auth = true } = {}) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      headers: auth ? { authorization: `Bearer ${token()}` } : {},
      cache: "no-store", credentials: "omit", signal: abort.signal,
    });
  } catch (error) {
    throw new ApiError(0, error.name === "AbortError" ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : "the daemon cannot be reached");
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok && !(path === "/readyz" && response.status === 503)) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status, problem.detail ?? problem.title ?? `HTTP ${response.status}`);
  }
  return text ? response.text() : response.json();
}

/** A whole list, a page of PAGE_SIZE at a time: follows the API's `next` cursor, at most MAX_PAGES pages. */
async function listAll(path, key) {
  const items = [];
  const separator = path.includes("?") ? "&" : "?";
  let cursor;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = `limit=${PAGE_SIZE}${cursor === undefined ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
    const body = await call(`${path}${separator}${query}`);
    items.push(...(body[key] ?? []));
    cursor = body.next ?? undefined;
    if (!cursor) break;
  }
  return items;
}

/** Why a token was refused, in the words the operator needs. */
function refusal(error) {
  if (error.status === 401) return "The token is unknown or has been revoked.";
  if (error.status === 403) return "Admin token required: this is a cluster token, and the status page is for the network team.";
  return `Sign-in failed: ${error.message}`;
}

// ---- Prometheus text -------------------------------------------------------------------------------------

/** The samples of the named families: [{ name, labels, value }]. Only what the page shows is kept. */
function parseMetrics(text, wanted) {
  const samples = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || !wanted.some((prefix) => match[1].startsWith(prefix))) continue;
    const labels = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value.replace(/\\(.)/g, "$1");
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

const sum = (samples, name, where = () => true) =>
  samples.filter((s) => s.name === name && where(s.labels)).reduce((total, s) => total + s.value, 0);

// ---- formatting ------------------------------------------------------------------------------------------

function bytes(n) {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

const rate = (n) => (n === undefined ? "–" : `${bytes(n)}/s`);

function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return new Date(iso).toISOString().replace("T", " ").slice(0, 19);
}

const time = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "–");

// ---- DOM helpers -----------------------------------------------------------------------------------------

/** A cell: text, or { text, tone, title } where tone is ok / warn / bad / muted. */
function cell(content, className) {
  const td = document.createElement("td");
  const spec = typeof content === "object" && content !== null ? content : { text: content };
  if (spec.tone) {
    const badge = document.createElement("span");
    badge.className = `pill pill-${spec.tone}`;
    badge.textContent = String(spec.text);
    td.append(badge);
  } else {
    td.textContent = spec.text === undefined || spec.text === null ? "–" : String(spec.text);
  }
  if (spec.title) td.title = spec.title;
  if (className) td.className = className;
  return td;
}

/** Replaces a table's rows; `numeric` lists the columns to right-align. */
function fillTable(id, rows, empty, numeric = []) {
  const body = $(id).tBodies[0];
  if (rows.length === 0) {
    const td = cell(empty, "empty");
    td.colSpan = $(id).tHead.rows[0].cells.length;
    const tr = document.createElement("tr");
    tr.append(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    tr.append(...cells.map((content, i) => cell(content, numeric.includes(i) ? "num" : undefined)));
    return tr;
  }));
}

const roleTone = (role) => ({ master: "ok", standalone: "ok", backup: "info", fault: "bad" })[role] ?? "warn";
const yesNo = (value, good = "yes", bad = "no") => (value ? { text: good, tone: "ok" } : { text: bad, tone: "bad" });

function applyCell(report) {
  if (!report) return { text: "not yet", tone: "warn" };
  const when = ago(report.at);
  return report.ok
    ? { text: `ok · ${when}`, tone: "ok", title: `revision ${report.revision}, ${report.kind}, ${report.durationMs} ms` }
    : { text: `failed · ${when}`, tone: "bad", title: report.error ?? "" };
}

// ---- state and rendering ---------------------------------------------------------------------------------

const state = {
  view: "overview",
  lastSuccess: 0,
  previousCounters: undefined,
  audit: undefined,
  timer: undefined,
  generation: 0,
};

function renderHeader(status) {
  $("gateway-name").textContent = `${status.gateway} · ${status.version}`;
  document.title = `egw · ${status.gateway} (${status.role})`;
}

function renderOverview({ status, ready, metrics, egressIps }) {
  const appliedBehind = status.appliedRevision !== status.revision;
  $("card-role").replaceChildren(cell({ text: status.role, tone: roleTone(status.role) }).firstChild);
  $("card-revision").textContent = `${status.appliedRevision} / ${status.revision}${appliedBehind ? " (behind)" : ""}`;
  $("card-revision").className = `card-value${appliedBehind ? " warn" : ""}`;
  const apply = applyCell(status.lastApply);
  $("card-apply").textContent = apply.text;
  $("card-apply").title = apply.title ?? "";
  $("card-apply").className = `card-value ${apply.tone}`;
  const drift = sum(metrics, "egw_drift_repairs_total");
  $("card-drift").textContent = String(drift);
  $("card-drift").className = `card-value${drift > 0 ? " warn" : ""}`;
  const objects = (kind) => sum(metrics, "egw_objects", (l) => l.kind === kind);
  $("card-objects").textContent = `${objects("clusters")} · ${objects("mappings")} · ${objects("egressIps")}`;

  const self = { ...status, name: status.gateway, ready, replication: "self", replicationError: null };
  fillTable("gateways", [self, ...status.peers].map((g) => {
    // A follower does not follow its peer's progress, and a peer that does not answer reports nothing new:
    // what the page has of them is shown as such, not as a fact.
    const unknown = g.replication === "unknown";
    const silent = g.replication === "unreachable";
    const lag = status.revision - g.appliedRevision;
    return [
      g === self ? `${g.name} · this gateway` : g.name,
      silent ? { text: `${g.role}?`, tone: "muted", title: "last reported role: the peer does not answer" } : { text: g.role, tone: roleTone(g.role) },
      g === self ? yesNo(ready, "ready", "not ready") : "–",
      unknown ? { text: "unknown", tone: "muted" } : yesNo(g.inSync),
      unknown ? `? / ${status.revision}` : `${g.appliedRevision} / ${status.revision}${lag > 0 ? ` (${lag} behind)` : ""}`,
      applyCell(g.lastApply),
      g === self ? "–" : { text: g.replication, tone: { "in-sync": "ok", behind: "warn", unknown: "muted" }[g.replication] ?? "bad" },
      g.replicationError ?? g.lastApply?.error ?? "",
    ];
  }), "no gateways");

  const now = Date.now();
  const counters = {};
  for (const s of metrics) if (s.name === "egw_egress_ip_bytes_total") counters[`${s.labels.egress_ip}|${s.labels.direction}`] = s.value;
  const previous = state.previousCounters;
  const perSecond = (key) => {
    if (!previous || counters[key] === undefined || previous.values[key] === undefined) return undefined;
    return Math.max(0, counters[key] - previous.values[key]) / ((now - previous.at) / 1000);
  };
  state.previousCounters = { at: now, values: counters };
  fillTable("egress-ips", egressIps.map((ip) => [
    ip.address, ip.cluster ?? { text: "unassigned", tone: "muted" }, ip.description || "",
    bytes(counters[`${ip.address}|out`]), bytes(counters[`${ip.address}|in`]),
    rate(perSecond(`${ip.address}|out`)), rate(perSecond(`${ip.address}|in`)),
  ]), "no egress IPs yet", [3, 4, 5, 6]);

  renderFailures(status);
}

function renderFailures(status) {
  const items = [];
  for (const g of [{ ...status, name: status.gateway }, ...status.peers]) {
    if (g.lastApply?.error) items.push(["bad", `${g.name}: last apply failed: ${g.lastApply.error}`]);
    for (const held of g.lastApply?.isolated ?? []) items.push(["bad", `${g.name}: cluster ${held.cluster}'s latest change is held back: ${held.error}`]);
    for (const hop of g.lastApply?.unresolvedNextHops ?? []) items.push(["warn", `${g.name}: next hop ${hop} has no known MAC address yet`]);
    if (g.replicationError) items.push(["warn", `${g.name}: replication ${g.replication}: ${g.replicationError}`]);
  }
  if (status.translationLog && status.translationLog.state !== "running") {
    items.push(["warn", `translation log ${status.translationLog.state}${status.translationLog.error ? `: ${status.translationLog.error}` : ""}`]);
  }
  for (const warning of status.warnings) items.push(["warn", warning]);
  const list = $("failures");
  if (items.length === 0) items.push(["ok", "No failures: every apply succeeded and replication is healthy."]);
  list.replaceChildren(...items.map(([tone, text]) => {
    const li = document.createElement("li");
    li.className = tone;
    li.textContent = text;
    return li;
  }));
}

function renderClusters({ clusters, mappings }) {
  fillTable("clusters", clusters.map((c) => [c.name, c.sourceRanges.join(", "), c.egressIps.join(", "), c.usage?.mappings ?? ""]), "no clusters yet", [3]);
  fillTable("mappings", mappings.map((m) => [
    m.cluster, m.name, m.sourceCidr, m.egressIp,
    m.destinations.length ? m.destinations.join(", ") : "all",
    m.excludedDestinations.join(", "),
    Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(" "),
  ]), "no mappings yet");
}

const shown = (v) => (Array.isArray(v) ? v.join(",") : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
const blank = (v) => v === null || v === "" || (Array.isArray(v) && v.length === 0) || (typeof v === "object" && v !== null && Object.keys(v).length === 0);
const short = (text) => (text.length > 160 ? `${text.slice(0, 159)}…` : text);

/**
 * A change in one line: a whole-set replace as the items it added, changed and removed; an update as the fields
 * that changed; a create or delete as the resource's fields.
 */
function summary({ before, after }) {
  if (Array.isArray(before) || Array.isArray(after)) {
    const label = (item) => item?.name ?? item?.prefix ?? item?.address ?? JSON.stringify(item);
    const old = new Set((before ?? []).map(label));
    const now = new Set((after ?? []).map(label));
    const parts = [
      ["added", [...now].filter((k) => !old.has(k))],
      ["changed", [...now].filter((k) => old.has(k))],
      ["removed", [...old].filter((k) => !now.has(k))],
    ].filter(([, items]) => items.length > 0).map(([verb, items]) => `${verb} ${items.join(", ")}`);
    return short(parts.join("; "));
  }
  if (before && after && typeof before === "object" && typeof after === "object") {
    const keys = Object.keys(after).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    return short(keys.map((k) => `${k}: ${blank(before[k]) ? "–" : shown(before[k])} → ${blank(after[k]) ? "–" : shown(after[k])}`).join(" "));
  }
  const resource = after ?? before;
  if (resource === null || typeof resource !== "object") return "";
  return short(Object.entries(resource).filter(([, v]) => !blank(v)).map(([k, v]) => `${k}=${shown(v)}`).join(" "));
}

function renderAudit({ audit }) {
  fillTable("audit", audit.map((r) => [
    { text: time(r.at) }, r.revision, r.actor,
    { text: r.action, tone: r.action === "delete" ? "warn" : "muted" },
    r.resource,
    summary(r),
  ]), "no changes recorded yet", [1]);
}

function renderPorts({ ports }) {
  const note = $("ports-note");
  note.hidden = ports.note === undefined;
  note.textContent = ports.note ?? "";
  fillTable("ports", (ports.egressIps ?? []).map((ip) => {
    const percent = Math.round(ip.maxUtilization * 1000) / 10;
    return [
      ip.egressAddress, ip.destinations,
      { text: `${percent} %`, tone: percent >= 80 ? "bad" : percent >= 50 ? "warn" : "ok" },
      ip.busiest.map((d) => `${d.destinationAddress}:${d.destinationPort}/${d.protocol} (${d.inUse} open)`).join(", ") || "–",
    ];
  }), ports.note ? "–" : "no egress IPs yet", [1]);
}

// ---- polling ---------------------------------------------------------------------------------------------

const METRIC_FAMILIES = ["egw_drift_repairs_total", "egw_objects", "egw_egress_ip_bytes_total"];

/** What each view needs, fetched in parallel. */
const loaders = {
  overview: async () => {
    const [ready, metricsText, egressIps] = await Promise.all([
      call("/readyz", { auth: false }).then((r) => r.status === "ready"),
      call("/metrics", { text: true }),
      listAll("/v1/egress-ips", "egressIps"),
    ]);
    return { ready, metrics: parseMetrics(metricsText, METRIC_FAMILIES), egressIps };
  },
  clusters: async () => {
    const clusters = await listAll("/v1/clusters", "clusters");
    const perCluster = await Promise.all(clusters.map((c) =>
      listAll(`/v1/clusters/${encodeURIComponent(c.name)}/mappings`, "mappings").then((list) => list.map((m) => ({ ...m, cluster: c.name })))));
    return { clusters, mappings: perCluster.flat() };
  },
  // Records can be large (a whole-set PUT lists every item it changed): fetched again only when the revision moved.
  audit: async (status) => {
    if (state.audit?.revision !== status.revision) state.audit = { revision: status.revision, records: (await call("/v1/audit?limit=100")).records };
    return { audit: state.audit.records };
  },
  ports: async () => {
    try {
      return { ports: await call("/v1/ports") };
    } catch (error) {
      if (error.status === 404) return { ports: { note: error.message } };
      throw error;
    }
  },
  lookup: async () => ({}),
};

const renderers = { overview: renderOverview, clusters: renderClusters, audit: renderAudit, ports: renderPorts, lookup: () => {} };

async function refresh() {
  clearTimeout(state.timer);
  const generation = ++state.generation;
  const view = state.view;
  try {
    const status = await call("/v1/status");
    const extra = await loaders[view](status);
    if (generation !== state.generation) return;
    renderHeader(status);
    renderers[view]({ status, ...extra });
    state.lastSuccess = Date.now();
    showConnection();
  } catch (error) {
    if (generation !== state.generation) return;
    if (error.status === 401 || error.status === 403) return signOut(refusal(error));
    showConnection(error);
  }
  state.timer = setTimeout(refresh, POLL_MS);
}

function showConnection(error) {
  const pill = $("connection");
  const banner = $("banner");
  const updated = state.lastSuccess ? new Date(state.lastSuccess).toLocaleTimeString([], { hour12: false }) : "never";
  $("last-updated").textContent = `last updated ${updated}`;
  document.body.classList.toggle("stale", Boolean(error));
  if (!error) {
    pill.textContent = "live";
    pill.className = "pill pill-ok";
    banner.hidden = true;
    return;
  }
  pill.textContent = "stale";
  pill.className = "pill pill-bad";
  banner.hidden = false;
  const age = state.lastSuccess ? ` The data below is ${Math.round((Date.now() - state.lastSuccess) / 1000)} s old.` : "";
  banner.textContent = `The daemon is not answering (${error.message}). Retrying every ${POLL_MS / 1000} s.${age}`;
}

// ---- views, sign-in, lookup -------------------------------------------------------------------------------

function route() {
  const name = window.location.hash.replace(/^#\/?/, "");
  state.view = VIEWS.includes(name) ? name : "overview";
  for (const view of VIEWS) $(`view-${view}`).hidden = !token() || view !== state.view;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.view === state.view);
  if (token()) refresh();
}

function signedIn(yes) {
  $("login").hidden = yes;
  $("nav").hidden = !yes;
  $("sign-out").hidden = !yes;
  if (!yes) for (const view of VIEWS) $(`view-${view}`).hidden = true;
}

function signOut(message = "") {
  clearTimeout(state.timer);
  state.generation++;
  sessionStorage.removeItem(TOKEN_KEY);
  state.audit = undefined;
  $("login-error").textContent = message;
  $("connection").textContent = "not signed in";
  $("connection").className = "pill pill-muted";
  $("banner").hidden = true;
  signedIn(false);
}

async function signIn(event) {
  event.preventDefault();
  const input = $("token");
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  $("login-error").textContent = "";
  try {
    await call("/v1/status");
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("login-error").textContent = error.status === 0 ? `The daemon cannot be reached: ${error.message}` : refusal(error);
    return;
  }
  input.value = "";
  signedIn(true);
  route();
}

async function lookup(event) {
  event.preventDefault();
  const form = new URLSearchParams();
  const fields = event.target.elements;
  form.set("egressIp", fields.egressIp.value.trim());
  if (fields.egressPort.value) form.set("egressPort", fields.egressPort.value);
  form.set("at", fields.at.value.trim() || new Date().toISOString());
  const status = $("lookup-status");
  status.hidden = false;
  status.className = "note";
  status.textContent = "Looking up…";
  try {
    const answer = await call(`/v1/translations?${form}`);
    fillTable("lookup", answer.translations.map((t) => [
      t.gateway, t.cluster, t.mapping, t.protocol, `${t.pod.address}:${t.pod.port}`,
      `${t.destination.address}:${t.destination.port}`, `${t.egress.address}:${t.egress.port}`, time(t.start), t.end ? time(t.end) : "open",
    ]), "no translation matches");
    const caveats = [
      ...answer.gaps.map((g) => `the log of ${g.gateway} has a gap from ${time(g.from)} to ${g.to ? time(g.to) : "now"} (${g.reason})`),
      ...answer.unanswered.map((u) => `${u.gateway} did not answer${u.reason ? ` (${u.reason})` : ""}`),
    ];
    status.textContent = `${answer.translations.length} translation(s) for ${form.get("egressIp")}${form.get("egressPort") ? `:${form.get("egressPort")}` : ""} at ${form.get("at")}.`
      + (caveats.length ? ` Caution: ${caveats.join("; ")}.` : "");
  } catch (error) {
    status.className = "note error";
    status.textContent = `Lookup refused: ${error.message}`;
    fillTable("lookup", [], "–");
  }
}

$("login-form").addEventListener("submit", signIn);
$("lookup-form").addEventListener("submit", lookup);
$("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);
signedIn(Boolean(token()));
route();
