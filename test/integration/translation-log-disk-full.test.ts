import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startDaemon, type DaemonHandle } from "../../lab/daemon.js";
import { leftovers } from "../../lab/leftovers.js";
import { buildGatewayTopology, type GatewayTopology } from "../../lab/topology.js";
import { seenTuple } from "../../lab/tuple-client.js";
import { startWhoamiServer } from "../../lab/whoami-client.js";

const isRoot = process.getuid?.() === 0;
const MiB = 1024 * 1024;

interface Status { translationLog?: { state: string }; warnings: string[] }
interface Answer { translations: { pod: { address: string; port: number } }[]; gaps: { reason: string; from: string; to: string | null }[] }

/**
 * A full disk stops the log, not the data plane: the log's directory is a small tmpfs the test fills. The log says
 * so (status, warning, metric), pods keep leaving with their egress IPs, the gap is recorded, and once space
 * returns the log resumes by itself.
 */
describe("translation log on a full disk", { skip: isRoot ? false : "needs root for network namespaces and tmpfs" }, () => {
  let topo: GatewayTopology;
  let daemon: DaemonHandle | undefined;
  let mount: string;
  let mounted = false;
  const status = async () => (await (daemon as DaemonHandle).api("GET", "/v1/status")).body as Status;
  const until = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 15_000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n${daemon?.log().slice(-4000)}`);
      await sleep(100);
    }
  };

  before(async () => {
    mount = mkdtempSync(join(tmpdir(), "egw-tl-tmpfs-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m,mode=0700", "egw-test-tmpfs", mount]);
    mounted = true;
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
    daemon = await startDaemon(topo.gateway, { translationLog: { enabled: true, directory: join(mount, "translations"), minFreeBytes: 32 * MiB } });
    const d = daemon;
    assert.equal((await d.api("POST", "/v1/egress-ips", { address: "203.0.113.10" })).status, 201);
    assert.equal((await d.api("POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.1.0/26"], egressIps: ["203.0.113.10"] })).status, 201);
    const mappings = await d.api("PUT", "/v1/clusters/prod/mappings?wait=true", { mappings: [{ name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10" }] });
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    const routes = await d.api("PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.1.0/26", via: "172.31.0.11" }] });
    assert.equal(routes.status, 200, JSON.stringify(routes.body));
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
    if (mounted) execFileSync("umount", [mount]);
    rmSync(mount, { recursive: true, force: true });
    assert.deepEqual(leftovers(topo?.namespaces ?? [], daemon ? [daemon.dir] : []), [], "the test leaves nothing behind");
  });

  it("stops recording and says so, keeps the data plane, records the gap, and resumes when space returns", async () => {
    const d = daemon as DaemonHandle;
    await until(async () => (await status()).translationLog?.state === "running", "the log to run");
    const filler = join(mount, "filler");
    writeFileSync(filler, Buffer.alloc(40 * MiB));
    const fullFrom = Date.now();
    await until(async () => (await status()).translationLog?.state === "disk-full", "the log to notice the full disk");
    const full = await status();
    assert.ok(full.warnings.some((w) => w.includes("translation log not recording (disk-full)")), JSON.stringify(full.warnings));
    assert.match(String((await d.api("GET", "/metrics")).body), /^egw_translation_log_up 0$/m);
    const during = await seenTuple(topo.pods.a, "tcp", topo.addr.server.v4);
    assert.equal(during.seenAddress, "203.0.113.10", "the data plane translates as before");

    rmSync(filler);
    await until(async () => (await status()).translationLog?.state === "running", "the log to resume");
    const resumed = await seenTuple(topo.pods.a, "tcp", topo.addr.server.v4);
    let answer: Answer | undefined;
    await until(async () => {
      const response = await d.api("GET", `/v1/translations?egressIp=203.0.113.10&egressPort=${resumed.seenPort}&from=${new Date(fullFrom - 1_000).toISOString()}&to=${new Date().toISOString()}`);
      answer = response.body as Answer;
      return answer.translations.some((t) => t.pod.port === resumed.podPort);
    }, "a connection after the disk freed up to be recorded");
    const gap = answer?.gaps.find((g) => g.reason === "disk-full");
    assert.ok(gap && gap.to !== null && Date.parse(gap.from) >= fullFrom - 2_000, `the disk-full gap is in the answer, closed: ${JSON.stringify(answer?.gaps)}`);
  });
});
