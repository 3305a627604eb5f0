import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { PACKAGE_ROOT } from "../../appliance/paths.js";
import { launchInNamespace, type NamespacedBrowser } from "../../lab/browser.js";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { startHaGroup, waitFor, type HaGroup } from "../../lab/ha-group.js";
import { buildHaTopology, type HaTopology } from "../../lab/ha-topology.js";
import { leftovers } from "../../lab/leftovers.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { seenTuple } from "../../lab/tuple-client.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;
/** The API listener inside the gateway's namespace: loopback there, so nothing is reachable from the host. */
const LISTEN = "127.0.0.1:8080";
const PAGE = `http://${LISTEN}/ui/`;
/** The page polls every 2 s; a change must show within a few polls. */
const SHOWN_WITHIN_MS = 10_000;
const SCREENSHOTS = process.env["EGW_SCREENSHOTS_DIR"] ?? join(PACKAGE_ROOT, "test-output", "screenshots");

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(PAGE);
  await page.fill("#token", token);
  await page.click("#login-form button[type=submit]");
}

/** Waits until the cell in `column` (1-based) of the row of `table` whose first cell starts with `row` matches. */
async function waitForCell(page: Page, table: string, row: string, column: number, pattern: RegExp, timeoutMs = SHOWN_WITHIN_MS): Promise<string> {
  const handle = await page.waitForFunction(([id, first, col, source]) => {
    const rows = [...(document.querySelector<HTMLTableSectionElement>(`#${id} tbody`)?.rows ?? [])];
    const cell = rows.find((r) => r.cells[0]?.textContent?.startsWith(first))?.cells[col - 1]?.textContent ?? "";
    return new RegExp(source).test(cell) ? cell : false;
  }, [table, row, column, pattern.source] as const, { timeout: timeoutMs, polling: 100 });
  return (await handle.jsonValue()) as string;
}

const text = (page: Page, selector: string) => page.locator(selector).innerText();

describe("status page on one gateway, in headless Chromium", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: GatewayTopology;
  let daemon: DaemonHandle | undefined;
  let browser: NamespacedBrowser | undefined;
  let page: Page;
  const browserDir = mkdtempSync(join(tmpdir(), "egw-ui-"));
  let clusterToken = "";

  before(async () => {
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
    daemon = await startDaemon(topo.gateway, { listen: [LISTEN], translationLog: { enabled: true } });
    const d = daemon;
    for (const address of ["203.0.113.10", "203.0.113.11"]) assert.equal((await d.api("POST", "/v1/egress-ips", { address, description: "ERP" })).status, 201);
    const created = await d.api("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.1.0/24"], egressIps: ["203.0.113.10", "203.0.113.11"] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    clusterToken = ((await d.api("POST", "/v1/clusters/prod/tokens", { description: "ci" })).body as { token: string }).token;
    const mappings = await d.api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [
      { name: "erp", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", labels: { namespace: "erp" } },
    ] });
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    const routes = await d.api("PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.1.0/24", via: topo.addr.node.v4 }] });
    assert.equal(routes.status, 200, JSON.stringify(routes.body));
    browser = await launchInNamespace(topo.gateway, browserDir);
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close();
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
    rmSync(browserDir, { recursive: true, force: true });
    assert.deepEqual(leftovers(topo?.namespaces ?? [], [browserDir, ...(daemon ? [daemon.dir] : [])]), [], "the test leaves nothing behind");
  });

  it("serves the page's files without a token, with a strict CSP, and nothing else under /ui/", async () => {
    const d = daemon as DaemonHandle;
    const index = await d.api("GET", "/ui/", undefined, "");
    assert.equal(index.status, 200);
    assert.match(String(index.headers["content-type"]), /^text\/html/);
    const csp = String(index.headers["content-security-policy"]);
    for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), csp);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(index.headers["x-content-type-options"], "nosniff");
    assert.equal(index.headers["cache-control"], "no-cache");
    assert.doesNotMatch(String(index.body), /<script>|\son\w+=/, "no inline script or handler");
    const script = await d.api("GET", "/ui/app.js", undefined, "");
    assert.match(String(script.headers["content-type"]), /^text\/javascript/);
    for (const path of ["/ui/egw.json", "/ui/..%2Fegw.json", "/ui/admin-token"]) assert.equal((await d.api("GET", path, undefined, "")).status, 404, path);
    assert.equal((await d.api("GET", "/", undefined, "")).headers["location"], "/ui/");
    assert.equal((await d.api("GET", "/v1/audit", undefined, "")).status, 401, "the data needs a token");
    assert.equal((await d.api("GET", "/v1/audit", undefined, clusterToken)).status, 403, "and an admin's");
  });

  it("says plainly when a token is wrong, and refuses a cluster token: admin token required", async () => {
    await signIn(page, "not-a-token");
    await page.locator("#login-error", { hasText: "unknown or has been revoked" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    await signIn(page, clusterToken);
    await page.locator("#login-error", { hasText: "Admin token required" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    assert.equal(await page.isVisible("#view-overview"), false, "nothing is shown to a cluster token");
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");
    await screenshot(page, "login-refused");
  });

  it("shows the gateway, its revisions and last apply, and the egress IPs with their traffic", async () => {
    await signIn(page, (daemon as DaemonHandle).adminToken);
    await waitForCell(page, "gateways", "gw-test", 2, /^standalone$/);
    await waitForCell(page, "gateways", "gw-test", 3, /^ready$/);
    const revisions = await waitForCell(page, "gateways", "gw-test", 5, /^\d+ \/ \d+$/);
    const [applied, stored] = revisions.split(" / ").map(Number);
    assert.equal(applied, stored, "applied the newest revision");
    assert.match(await text(page, "#card-apply"), /^ok · /);
    assert.equal(await page.evaluate(() => window.location.href.includes("token")), false, "the token never goes into the URL");
    assert.equal(await page.evaluate(() => document.cookie), "", "nor into a cookie");
    // Traffic through egress IP 203.0.113.10 shows in its row.
    for (let i = 0; i < 5; i++) assert.deepEqual(await whoami(topo.pods.a, topo.addr.server.v4), { ok: true, seenAs: "203.0.113.10" });
    await waitForCell(page, "egress-ips", "203.0.113.10", 4, /^[\d.]+ (B|KiB)$/);
    const out = await waitForCell(page, "egress-ips", "203.0.113.10", 4, /[1-9]/);
    assert.notEqual(out, "0 B");
    assert.equal(await waitForCell(page, "egress-ips", "203.0.113.11", 4, /B$/), "0 B", "no traffic through the unused one");
    assert.match(await text(page, "#failures"), /No failures/);
    assert.match(await text(page, "#connection"), /live/);
    await screenshot(page, "overview");
  });

  it("shows a mapping added through the API within the refresh interval, without reloading the page", async () => {
    await page.evaluate(() => Object.assign(window, { egwTestMarker: "not reloaded" }));
    await page.click("#nav a[data-view=clusters]");
    await waitForCell(page, "mappings", "prod", 2, /^erp$/);
    assert.equal(await page.locator("#mappings tbody tr", { hasText: "batch" }).count(), 0);
    const added = await (daemon as DaemonHandle).api("POST", "/v1/clusters/prod/mappings", { name: "batch", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11" }, clusterToken);
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const row = page.locator("#mappings tbody tr", { hasText: "batch" });
    await row.waitFor({ timeout: SHOWN_WITHIN_MS });
    assert.match(await row.innerText(), /10\.244\.1\.64\/26\s+203\.0\.113\.11/);
    await waitForCell(page, "clusters", "prod", 4, /^2$/);
    assert.equal(await page.evaluate(() => (window as unknown as { egwTestMarker?: string }).egwTestMarker), "not reloaded");
    assert.equal(page.url(), `${PAGE}#/clusters`, "each view has its own address");
    await screenshot(page, "clusters");
  });

  it("lists the audit records with the actor of each change", async () => {
    await page.goto(`${PAGE}#/audit`);
    const row = page.locator("#audit tbody tr", { hasText: "clusters/prod/mappings/batch" });
    await row.waitFor({ timeout: SHOWN_WITHIN_MS });
    assert.match(await row.innerText(), /cluster:prod\/token:\S+\s+create\s+clusters\/prod\/mappings\/batch\s+.*sourceCidr=10\.244\.1\.64\/26/);
    assert.match(await page.locator("#audit tbody tr", { hasText: "clusters/prod/mappings" }).last().innerText(), /replace\s+clusters\/prod\/mappings\s+added erp/);
    assert.ok(await page.locator("#audit tbody tr", { hasText: "egress-ips/203.0.113.10" }).count() >= 1);
    await screenshot(page, "audit");
  });

  it("shows port headroom per egress IP, and answers a translation lookup from the firewall's view", async () => {
    await page.goto(`${PAGE}#/ports`);
    await waitForCell(page, "ports", "203.0.113.10", 3, /^\d+(\.\d)? %$/);
    await screenshot(page, "ports");

    const seen = await seenTuple(topo.pods.a, "tcp", topo.addr.server.v4);
    assert.equal(seen.seenAddress, "203.0.113.10");
    const at = new Date().toISOString();
    const query = `egressIp=${seen.seenAddress}&egressPort=${seen.seenPort}&at=${at}`;
    await waitFor(async () => ((await (daemon as DaemonHandle).api("GET", `/v1/translations?${query}`)).body as { translations: unknown[] }).translations.length > 0,
      10_000, "the translation log to hold the connection");
    await page.goto(`${PAGE}#/lookup`);
    await page.fill("#lookup-form [name=egressIp]", seen.seenAddress);
    await page.fill("#lookup-form [name=egressPort]", String(seen.seenPort));
    await page.fill("#lookup-form [name=at]", at);
    await page.click("#lookup-form button[type=submit]");
    const pod = await waitForCell(page, "lookup", "gw-test", 5, /:/);
    assert.equal(pod, `${seen.podAddress}:${seen.podPort}`);
    assert.match(await text(page, "#lookup tbody"), /prod\s+erp\s+tcp/);
    assert.match(await text(page, "#lookup-status"), /^1 translation/);
    await screenshot(page, "lookup");
    await page.fill("#lookup-form [name=egressIp]", "not-an-address");
    await page.click("#lookup-form button[type=submit]");
    await page.locator("#lookup-status", { hasText: "Lookup refused" }).waitFor({ timeout: SHOWN_WITHIN_MS });
  });

  it("marks the data stale while the daemon does not answer, and recovers by itself", async () => {
    const d = daemon as DaemonHandle;
    await page.goto(`${PAGE}#/overview`);
    await page.locator("#connection", { hasText: "live" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    await page.evaluate(() => Object.assign(window, { egwTestMarker: "still here" }));
    await d.stop();
    await page.locator("#banner", { hasText: "not answering" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    assert.match(await text(page, "#connection"), /stale/);
    await screenshot(page, "stale");
    await d.start();
    await page.locator("#connection", { hasText: "live" }).waitFor({ timeout: SHOWN_WITHIN_MS });
    assert.equal(await page.isVisible("#banner"), false);
    assert.equal(await page.evaluate(() => (window as unknown as { egwTestMarker?: string }).egwTestMarker), "still here");
  });
});

describe("status page on a gateway pair: a failover shows within seconds", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  let topo: HaTopology;
  let group: HaGroup | undefined;
  let browser: NamespacedBrowser | undefined;
  const browserDir = mkdtempSync(join(tmpdir(), "egw-ui-ha-"));

  before(async () => {
    topo = await buildHaTopology();
    group = await startHaGroup(topo, { daemon: () => ({ listen: [LISTEN] }) });
    const a = group.daemons.a;
    assert.equal((await a.api("POST", "/v1/egress-ips", { address: "203.0.113.10" })).status, 201);
    assert.equal((await a.api("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"] })).status, 201);
    const put = await a.api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [{ name: "erp", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" }] });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    // The browser watches the backup: the gateway that survives.
    browser = await launchInNamespace(topo.gateways.b, browserDir);
  });

  after(async () => {
    await browser?.close();
    await group?.stop();
    await topo?.destroy();
    rmSync(browserDir, { recursive: true, force: true });
    const directories = group ? [...Object.values(group.daemons).map((d) => d.dir), group.certificates] : [];
    assert.deepEqual(leftovers(topo?.namespaces ?? [], [browserDir, ...directories]), [], "the test leaves nothing behind");
  });

  it("shows both gateways' roles and replication, then the backup as master once the master dies", async () => {
    const page = await (browser as NamespacedBrowser).newPage();
    await signIn(page, (group as HaGroup).adminToken);
    await waitForCell(page, "gateways", "gw-b · this gateway", 2, /^backup$/);
    await waitForCell(page, "gateways", "gw-a", 2, /^master$/);
    await waitForCell(page, "gateways", "gw-b · this gateway", 4, /^yes$/);
    await screenshot(page, "pair");

    const started = Date.now();
    topo.gateways.a.killAll();
    await topo.cutGateway("a");
    await waitForCell(page, "gateways", "gw-b · this gateway", 2, /^master$/, 20_000);
    const shownAfterMs = Date.now() - started;
    assert.match(await text(page, "#card-role"), /master/);
    // The new master takes a write that the dead peer cannot confirm: the page names the peer as behind.
    // (Leadership of the store follows the VRRP role a moment later: until then the write is refused with 503.)
    const batch = { name: "batch", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.10" };
    await waitFor(async () => (await (group as HaGroup).daemons.b.api("POST", "/v1/clusters/prod/mappings", batch)).status === 201, 15_000, "gw-b to take writes");
    await waitForCell(page, "gateways", "gw-a", 7, /^unreachable$/);
    await waitForCell(page, "gateways", "gw-a", 2, /^master\?$/);
    await waitForCell(page, "gateways", "gw-a", 5, /behind/);
    await waitForCell(page, "gateways", "gw-b · this gateway", 4, /^yes$/);
    await screenshot(page, "pair-after-failover");
    assert.ok(shownAfterMs < 20_000, `the new master was shown after ${shownAfterMs} ms`);
  });
});
