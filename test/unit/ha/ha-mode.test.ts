import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { configSchema } from "../../../appliance/config/schema.js";
import { HaMode } from "../../../appliance/ha/ha-mode.js";
import { PeerClient, type PeerState } from "../../../appliance/replication/peer-client.js";
import { createEgressIp } from "../../../appliance/service/egress-ips.js";
import type { ProcessProbe } from "../../../appliance/system/process-probe.js";
import type { CommandResult, CommandRunner, RunOptions } from "../../../appliance/system/runner.js";
import { ExecaRunner } from "../../../appliance/system/runner.js";
import { createPeerCertificate } from "../../../appliance/tls/peer-cert.js";
import type { Store } from "../../../appliance/store/store.js";
import { FakeSystem } from "../../helpers/fake-system.js";
import { until } from "../../helpers/until.js";
import { mustWrite, openStore, OWN } from "../replication/replication-helpers.js";
import { hostCommandsAndFiles } from "../../../appliance/system/system.js";

/** keepalived as the watch sees it: two pid files the test can make point at dead processes. */
class FakeKeepalived implements ProcessProbe {
  alive = false;
  runningPid(): number | undefined {
    return this.alive ? 4242 : undefined;
  }
}

/** ip goes to the fake kernel; systemctl and the rest succeed and are recorded. */
class Runner implements CommandRunner {
  readonly kernel = new FakeSystem();
  readonly calls: string[] = [];
  async run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    this.calls.push(`${command} ${args.join(" ")}`);
    if (command === "ip") return this.kernel.run(command, args, options);
    return { stdout: "", stderr: "", exitCode: 0 };
  }
}

describe("HaMode", () => {
  let dir: string;
  let run: string;
  let store: Store;
  let runner: Runner;
  let keepalived: FakeKeepalived;
  let ha: HaMode;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-ha-mode-"));
    const certificates = join(dir, "certs");
    mkdirSync(certificates);
    for (const name of ["gw-a", "gw-b"]) await createPeerCertificate(hostCommandsAndFiles(), name, certificates);
    run = join(dir, "run");
    mkdirSync(run);
    await new ExecaRunner().run("mkfifo", ["-m", "600", join(run, "keepalived.fifo")]);
    const config = configSchema.parse({
      gateway: { name: "gw-a" },
      api: { adminTokenFile: join(dir, "admin-token") },
      database: { path: join(dir, "egw.db") },
      network: { inside: { interface: "inside" }, outside: { interface: "outside" } },
      ha: {
        processes: "systemd", runDirectory: run, insideVips: ["172.31.0.1/24", "fd00:172:31::1/64"],
        syncLink: { interface: "sync", address: "127.0.0.1" }, peer: { name: "gw-b", address: "127.0.0.2" }, ports: { replication: 9 },
        tls: { cert: join(certificates, "gw-a.crt"), key: join(certificates, "gw-a.key"), peerCertificates: join(certificates, "gw-b.crt") },
        keepalivedConfigPath: join(run, "keepalived.conf"), conntrackdConfigPath: join(run, "conntrackd.conf"),
        keepalivedPidFiles: [join(run, "keepalived.pid"), join(run, "vrrp.pid")], keepalivedCheckIntervalMs: 100, replicationTimeoutMs: 200,
      },
    });
    store = openStore("gw-a");
    mustWrite(store, (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN));
    mustWrite(store, (tx) => createEgressIp(tx, { address: "2001:db8::10" }, OWN));
    runner = new Runner();
    keepalived = new FakeKeepalived();
    ha = new HaMode({ config, ha: config.ha!, store, runner, files: runner.kernel.files, own: OWN, probe: keepalived, log: pino({ enabled: false }) });
    await ha.start();
  });

  after(async () => {
    await ha?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts by making its run directory, keepalived's notify fifo, a healthy health file and conntrackd's configuration", () => {
    const { files } = runner.kernel;
    assert.equal(files.directories.get(run), 0o750);
    assert.equal(files.fifos.get(join(run, "keepalived.fifo")), 0o600);
    assert.deepEqual(files.files.get(join(run, "health")), { content: "0\n", mode: 0o644 });
    assert.equal(files.files.get(join(run, "conntrackd.conf"))?.mode, 0o644);
    assert.match(files.text(join(run, "conntrackd.conf")) ?? "", /IPv4_Destination_Address 127\.0\.0\.2/);
    assert.deepEqual(runner.calls.filter((c) => !c.startsWith("ip ")), [], "nothing but ip ran: with systemd, egw starts no process");
  });

  it("restarted beside a running keepalived (systemd), knows its role from the inside VIPs: master with them, backup without", async () => {
    for (const holdsVips of [true, false]) {
      const restartedRunner = new Runner();
      const running = new FakeKeepalived();
      running.alive = true;
      if (holdsVips) {
        for (const vip of ["172.31.0.1/24", "fd00:172:31::1/64"]) await restartedRunner.kernel.run("ip", ["address", "add", vip, "dev", "inside"]);
      }
      await restartedRunner.kernel.run("ip", ["address", "add", "172.31.0.1/24", "dev", "outside"]);
      const restarted = new HaMode({ config: ha["options"].config, ha: ha["options"].ha, store, runner: restartedRunner, files: restartedRunner.kernel.files, own: OWN, probe: running, log: pino({ enabled: false }) });
      try {
        await restarted.start();
        assert.equal(restarted.roles.role, holdsVips ? "master" : "backup", "the role is known before keepalived says anything");
        if (holdsVips) await until(() => restarted.replicator.isLeader(), "a restarted master leads again");
      } finally {
        await restarted.stop();
      }
    }
  });

  it("when keepalived dies on the master: stops leading, reports fault and takes down the VIPs and egress IPs itself", async () => {
    keepalived.alive = true;
    await until(() => ha.keepalivedRunning, "the watch to see keepalived run");
    ha.roles.handle('INSTANCE "egw_inside" MASTER 150');
    await until(() => ha.replicator.isLeader(), "leadership");
    // What keepalived had put on the interfaces as master, and cannot remove once SIGKILLed.
    for (const [address, iface] of [["172.31.0.1/24", "inside"], ["fd00:172:31::1/64", "inside"], ["203.0.113.10/32", "outside"], ["2001:db8::10/128", "outside"]] as const) {
      await runner.kernel.run("ip", ["address", "add", address, "dev", iface]);
    }
    keepalived.alive = false;
    await until(() => ha.roles.role === "fault", "role fault");
    assert.equal(ha.replicator.isLeader(), false);
    await until(() => runner.calls.filter((c) => c.startsWith("ip address del")).length === 4, "the four addresses withdrawn");
    assert.deepEqual(runner.calls.filter((c) => c.startsWith("ip address del")).sort(), [
      "ip address del 172.31.0.1/24 dev inside", "ip address del 2001:db8::10/128 dev outside",
      "ip address del 203.0.113.10/32 dev outside", "ip address del fd00:172:31::1/64 dev inside",
    ]);
    assert.deepEqual(runner.kernel.addresses.map((a) => a.local), ["203.0.113.1"], "only the gateway's own address is left");
    assert.ok(ha.warnings().some((w) => /keepalived is not running/.test(w)), ha.warnings().join("; "));
  });

  it("once keepalived runs again the role follows its notifications again", async () => {
    keepalived.alive = true;
    await until(() => ha.keepalivedRunning, "the watch to see keepalived again");
    ha.roles.handle('INSTANCE "egw_inside" BACKUP 150');
    assert.equal(ha.roles.role, "backup");
    assert.deepEqual(ha.warnings(), []);
  });

  it("hands over on a monotonic deadline: a wall clock stepped forward by an hour does not cut the wait short", async (t) => {
    ha.roles.handle('INSTANCE "egw_inside" MASTER 150');
    let polls = 0;
    t.mock.method(PeerClient.prototype, "state", async function (this: PeerClient): Promise<PeerState> {
      polls++;
      if (polls === 4) ha.roles.handle('INSTANCE "egw_inside" BACKUP 150');
      return { name: "gw-b", role: polls >= 4 ? "master" : "backup", epoch: 0, revision: store.revision(), revisionEpoch: 0 };
    });
    let wall = Date.now();
    t.mock.method(Date, "now", () => (wall += 3_600_000));
    const result = await ha.handover();
    assert.deepEqual(result, { from: "gw-a", role: "backup" });
    // Leadership asks once, the catch-up check once, then the wait: backup, master.
    assert.equal(polls, 4);
  });

  it("hands over only to a backup that holds every write: one still catching up is waited for, then refused", async (t) => {
    ha.roles.handle('INSTANCE "egw_inside" MASTER 150');
    const behind = store.revision() - 1;
    let polls = 0;
    t.mock.method(PeerClient.prototype, "state", async function (this: PeerClient): Promise<PeerState> {
      polls++;
      return { name: "gw-b", role: "backup", epoch: 0, revision: behind, revisionEpoch: 0 };
    });
    // The deadline is monotonic: step performance.now past it after a few polls instead of waiting 10 s.
    const realNow = performance.now.bind(performance);
    let skew = 0;
    t.mock.method(performance, "now", () => realNow() + (polls >= 3 ? (skew = 20_000) : skew));
    await assert.rejects(ha.handover(), (error: Error & { code?: string }) => error.code === "conflict" && /lose acknowledged writes/.test(error.message));
    assert.deepEqual(ha.health.failing(), [], "the gateway was never faulted: it stays master");
    assert.equal(ha.roles.role, "master");
  });
});
