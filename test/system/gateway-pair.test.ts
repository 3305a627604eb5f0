import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { PACKAGE_ROOT } from "../../appliance/paths.js";
import { callApi, newSecret } from "../../lab/daemon.js";
import { openStream, startProber, waitFor } from "../../lab/ha-group.js";
import { buildHaTopology, HA_ADDR, type GatewayKey, type HaTopology } from "../../lab/ha-topology.js";
import { leftovers } from "../../lab/leftovers.js";
import { seenTuple, type SeenTuple } from "../../lab/tuple-client.js";
import { startWhoamiServer, whoami } from "../../lab/whoami-client.js";
import { bootMachine, debian13Root, type Machine } from "./machine.js";
import { buildPackage, buildUpgradePackage } from "./packages.js";

const isRoot = process.getuid?.() === 0;
const SERVER = HA_ADDR.server.v4;
const VIP = HA_ADDR.vip.v4;
const EGRESS = ["203.0.113.10", "203.0.113.11"];
/** The Vagrantfile's provisioning arguments for each gateway, verbatim. */
const PROVISION: Record<GatewayKey, string[]> = {
  a: ["gw-a", "150", "172.31.0.2", "203.0.113.2", "192.168.255.1", "gw-b", "172.31.0.3", "203.0.113.3", "192.168.255.2"],
  b: ["gw-b", "100", "172.31.0.3", "203.0.113.3", "192.168.255.2", "gw-a", "172.31.0.2", "203.0.113.2", "192.168.255.1"],
};

/**
 * Two Debian 13 machines with systemd as PID 1, wired like the Vagrant lab (an inside LAN with a node and its pods,
 * an outside LAN with a server, a sync link), each installed by the Vagrant lab's own provisioning script from the
 * Debian package, then driven through systemd as an operator would: notify readiness, journald priorities, traffic
 * with the right egress IPs, a daemon SIGKILLed and restarted, a hung daemon restarted by the watchdog, keepalived
 * SIGKILLed on the master, a graceful `systemctl stop`, a rolling upgrade, and remove/purge.
 */
describe("a gateway pair of Debian 13 machines under systemd, installed from the package", { skip: isRoot ? false : "needs root for systemd-nspawn" }, () => {
  let topo: HaTopology;
  let work: string;
  let token: string;
  const machines = {} as Record<GatewayKey, Machine>;
  let packageN: string;

  const api = (key: GatewayKey, method: string, path: string, body?: unknown, bearer = token) =>
    callApi(machines[key].path("/run/egw/api.sock"), method, path, bearer, body);
  const role = async (key: GatewayKey): Promise<string> => {
    const status = await api(key, "GET", "/v1/status").catch(() => undefined);
    return (status?.body as { role?: string } | undefined)?.role ?? "unreachable";
  };
  const masterKey = async (): Promise<GatewayKey> => {
    let found: GatewayKey | undefined;
    await waitFor(async () => {
      const roles = [await role("a"), await role("b")];
      found = roles[0] === "master" && roles[1] === "backup" ? "a" : roles[1] === "master" && roles[0] === "backup" ? "b" : undefined;
      return found !== undefined;
    }, 30_000, "one master and one backup");
    return found!;
  };
  const other = (key: GatewayKey): GatewayKey => (key === "a" ? "b" : "a");
  const unit = async (key: GatewayKey, name: string, properties: string[]) => {
    const out = (await machines[key].run("systemctl", ["show", name, ...properties.map((p) => `--property=${p}`)])).stdout;
    return Object.fromEntries(out.trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
  };
  const addresses = async (key: GatewayKey) => (await machines[key].run("ip", ["-o", "address", "show"])).stdout;
  const floating = [`${VIP}/24`, ...EGRESS.map((a) => `${a}/32`)];
  const holds = async (key: GatewayKey) => {
    const text = await addresses(key);
    return floating.filter((address) => text.includes(` ${address} `));
  };
  const seenAs = async (pod: "a" | "b") => {
    const result = await whoami(topo.pods[pod], SERVER, 8080, 2_000);
    return result.ok ? result.seenAs : `failed:${result.error}`;
  };
  const journal = async (key: GatewayKey, args: string[] = []) => (await machines[key].run("journalctl", ["-u", "egw", "--no-pager", ...args], { reject: false })).stdout;
  const diagnostics = async () => {
    const parts: string[] = [];
    for (const key of ["a", "b"] as const) {
      if (!machines[key]) continue;
      parts.push(`--- ${key}: egw ---\n${(await journal(key, ["-n", "40", "-o", "cat"])).slice(-4000)}`);
      parts.push(`--- ${key}: keepalived ---\n${(await machines[key].run("journalctl", ["-u", "keepalived", "-n", "20", "--no-pager", "-o", "cat"], { reject: false })).stdout.slice(-2000)}`);
      parts.push(`--- ${key}: jobs and keepalived's processes ---\n${(await machines[key].run("sh", ["-c", "systemctl list-jobs --no-pager; systemctl status keepalived.service --no-pager -n 0"], { reject: false })).stdout.slice(-2000)}`);
    }
    return parts.join("\n");
  };

  /** One TCP connection of pod a to the server's tuple port (8083), the time just after it, and who the server saw. */
  const tupleConnection = async (): Promise<SeenTuple & { at: string }> => {
    const seen = await seenTuple(topo.pods.a, "tcp", SERVER);
    return { ...seen, at: new Date().toISOString() };
  };
  /** `egw trace EGRESS_IP:PORT --at TIME`, run as an operator does inside the gateway (socket and token from /etc/egw). */
  const trace = async (key: GatewayKey, seen: SeenTuple & { at: string }) =>
    (await machines[key].run("egw", ["trace", `${seen.seenAddress}:${seen.seenPort}`, "--at", seen.at], { reject: false })).stdout;
  const escaped = (text: string) => text.replace(/[.[\]]/g, "\\$&");
  /** The row of egw trace that names the cluster, the mapping, the pod's address and port, the destination and the egress. */
  const traceRow = (seen: SeenTuple) => new RegExp(`^prod\\s+app-a\\s+tcp\\s+${escaped(seen.podAddress)}:${seen.podPort}\\s+` +
    `${escaped(SERVER)}:8083\\s+${escaped(seen.seenAddress)}:${seen.seenPort}\\s`, "m");
  /** The ulogd processes of a machine: pid, parent, user, systemd unit (from its cgroup) and command line. */
  const ulogds = async (key: GatewayKey) => {
    const ps = await machines[key].run("ps", ["-C", "ulogd", "-o", "pid=,ppid=,user=,args="], { reject: false });
    return Promise.all(ps.stdout.trim().split("\n").filter(Boolean).map(async (line) => {
      const [pid = "", ppid = "", user = "", ...args] = line.trim().split(/\s+/);
      const cgroup = (await machines[key].run("cat", [`/proc/${pid}/cgroup`], { reject: false })).stdout;
      return { pid, ppid, user, unit: /^0::.*\/([^/]+\.service)$/m.exec(cgroup)?.[1] ?? cgroup.trim(), args: args.join(" ") };
    }));
  };

  before(async () => {
    const root = debian13Root();
    work = mkdtempSync(join(tmpdir(), "egw-system-"));
    packageN = buildPackage(join(work, "packages"));
    // What the Vagrantfile rsyncs to /vagrant: the repository's scripts and vagrant folder, the package under
    // build/, and the secrets its trigger generates (an admin token, each gateway's replication certificate).
    const share = join(work, "share");
    for (const folder of ["scripts", "vagrant"]) cpSync(join(PACKAGE_ROOT, folder), join(share, folder), { recursive: true });
    mkdirSync(join(share, "build"));
    copyFileSync(packageN, join(share, "build", basename(packageN)));
    const secrets = join(share, "vagrant", ".secrets");
    rmSync(secrets, { recursive: true, force: true });
    mkdirSync(secrets, { mode: 0o700 });
    token = newSecret("admin");
    writeFileSync(join(secrets, "admin-token"), `${token}\n`, { mode: 0o600 });
    for (const name of ["gw-a", "gw-b"]) {
      execFileSync(process.execPath, [join(PACKAGE_ROOT, "dist", "bin", "egw.js"), "peer-cert", name, "--out", secrets], { stdio: "ignore" });
    }

    topo = await buildHaTopology({ prefix: `egwsys-${basename(work).slice(-5).toLowerCase()}` });
    await startWhoamiServer(topo.server, { stream: true });
    const boot = (key: GatewayKey) => bootMachine({
      name: `egw-${basename(work).slice(-5).toLowerCase()}-${key}`, root, netns: topo.gateways[key],
      readOnlyBinds: { [share]: "/vagrant" }, logFile: join(work, `console-${key}.log`),
    }).then((machine) => { machines[key] = machine; });
    await Promise.all([boot("a"), boot("b")]);
    // As on a machine where they were in use: the package must leave them disabled (egw's path units start them).
    for (const key of ["a", "b"] as const) await machines[key].run("systemctl", ["enable", "keepalived.service", "conntrackd.service"]);
    await Promise.all((["a", "b"] as const).map((key) => machines[key].run("bash", ["/vagrant/vagrant/provision-gateway.sh", ...PROVISION[key]]).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${await diagnostics()}`);
    })));
  });

  after(async () => {
    for (const machine of Object.values(machines)) await machine.stop();
    await topo?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
    assert.deepEqual(leftovers(topo?.namespaces ?? [], work ? [work] : []), [], "the test leaves nothing behind");
  });

  it("installs from the package alone (no compiler, npm or git) and reaches active through Type=notify", async () => {
    for (const key of ["a", "b"] as const) {
      const absent = await machines[key].run("sh", ["-c", "for t in gcc cc make npm git; do command -v $t; done; true"]);
      assert.equal(absent.stdout.trim(), "", "no build tool on the gateway");
      const egw = await unit(key, "egw.service", ["Type", "ActiveState", "SubState", "NotifyAccess", "WatchdogUSec", "User"]);
      assert.deepEqual(egw, { Type: "notify", ActiveState: "active", SubState: "running", NotifyAccess: "all", WatchdogUSec: "20s", User: "egw" });
      // Debian's own keepalived and conntrackd units stay disabled: egw's path units start them with its configuration.
      const enabled = await machines[key].run("systemctl", ["is-enabled", "keepalived.service", "conntrackd.service"], { reject: false });
      assert.deepEqual(enabled.stdout.trim().split("\n"), ["disabled", "disabled"]);
      assert.equal((await unit(key, "keepalived.service", ["ActiveState"])).ActiveState, "active", await diagnostics());
      // The packaged koffi loads under the unit's sandbox (AF_NETLINK allowed): element changes skip nft's fetch.
      assert.doesNotMatch(await journal(key, ["-o", "cat"]), /element changes go through nft/);
    }
    await masterKey();
  });

  it("sends each pod's traffic out with its egress IP, through whichever gateway is master", async () => {
    const master = await masterKey();
    for (const address of EGRESS) assert.equal((await api(master, "POST", "/v1/egress-ips", { address })).status, 201);
    const cluster = await api(master, "POST", "/v1/clusters", { name: "prod", sourceRanges: ["10.244.0.0/16"], egressIps: EGRESS });
    assert.equal(cluster.status, 201, JSON.stringify(cluster.body));
    const mappings = await api(master, "PUT", "/v1/clusters/prod/mappings?wait=true", {
      mappings: [{ name: "app-a", sourceCidr: "10.244.1.0/26", egressIp: EGRESS[0] }, { name: "app-b", sourceCidr: "10.244.1.64/26", egressIp: EGRESS[1] }],
    });
    assert.equal(mappings.status, 200, JSON.stringify(mappings.body));
    const routes = await api(master, "PUT", "/v1/clusters/prod/routes?wait=true", { routes: [{ prefix: "10.244.0.0/16", via: HA_ADDR.node.v4 }] });
    assert.equal(routes.status, 200, JSON.stringify(routes.body));
    await waitFor(async () => (await seenAs("a")) === EGRESS[0], 20_000, "pod a's traffic to leave with its egress IP");
    // Each egress IP is a floating address keepalived adds on its own reload: pod b's may come a moment later.
    const seenB = await waitFor(async () => (await seenAs("b")) === EGRESS[1], 20_000, "pod b's traffic to leave with its egress IP")
      .then(() => "ok", async (error: Error) => `${error.message}
${await diagnostics()}
--- master's addresses ---
${(await machines[master].run("ip", ["-o", "addr"], { reject: false })).stdout}
--- ruleset ---
${(await machines[master].run("nft", ["list", "table", "inet", "egress_gateway"], { reject: false })).stdout.slice(0, 6000)}`);
    assert.equal(seenB, "ok");
    // With the Vagrant lab's loose reverse-path filtering, which stays on: replies to pods pass it by their mark.
    const rpFilter = await machines[master].run("sysctl", ["-n", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.outside.src_valid_mark"]);
    assert.deepEqual(rpFilter.stdout.trim().split("\n"), ["2", "1"]);
    await waitFor(async () => (await holds(master)).length === 3, 10_000, "the master to hold the VIP and both egress IPs");
    assert.deepEqual(await holds(other(master)), [], "the backup holds no floating address");
  });

  it("records each translation: ulogd runs as egw's child in its sandbox, and egw trace on the master names the pod", async () => {
    const master = await masterKey();
    for (const key of ["a", "b"] as const) {
      const egw = await unit(key, "egw.service", ["MainPID"]);
      // Two: the translation log's (conntrack events) and the policy log's (the NFLOG group of refused connections).
      const ours = (await ulogds(key)).filter((p) => p.unit === "egw.service").sort((x, y) => x.args.localeCompare(y.args));
      assert.equal(ours.length, 2, `two ulogds in egw.service's cgroup on ${key}: ${JSON.stringify(await ulogds(key))}`);
      assert.deepEqual(ours, ["ulogd -c /var/lib/egw/policy-log/ulogd-policy.conf", "ulogd -c /var/lib/egw/translations/ulogd.conf"]
        .map((args, i) => ({ pid: ours[i]!.pid, ppid: egw.MainPID, user: "egw", unit: "egw.service", args })),
      "the daemon's own children, as egw, with egw's configs and no pid file");
      // Debian's ulogd2.service (enabled when ulogd2 was installed) is the operator's and keeps running beside it,
      // with its own config and pid file: the package leaves it alone.
      assert.equal((await unit(key, "ulogd2.service", ["ActiveState"])).ActiveState, "active");
      const debians = (await ulogds(key)).filter((p) => p.unit === "ulogd2.service");
      assert.equal(debians.length, 1, JSON.stringify(await ulogds(key)));
      assert.equal((await machines[key].run("cat", ["/run/ulog/ulogd.pid"])).stdout.trim(), debians[0]!.pid, "Debian's pid file is its own ulogd's");
      const pidFiles = await machines[key].run("find", ["/run/egw", "/var/lib/egw", "-name", "*.pid"]);
      assert.equal(pidFiles.stdout.trim(), "", "egw's ulogd writes no pid file");
      const status = (await api(key, "GET", "/v1/status")).body as { translationLog?: { state: string }; warnings: string[] };
      assert.equal(status.translationLog?.state, "running", JSON.stringify(status.translationLog));
      // The sandbox lets it set conntrack's accounting and timestamps (records carry counters and the kernel's times).
      assert.deepEqual(status.warnings.filter((w) => w.includes("translation log")), []);
    }
    const seen = await tupleConnection();
    assert.equal(seen.seenAddress, EGRESS[0]);
    await waitFor(async () => traceRow(seen).test(await trace(master, seen)), 10_000,
      `egw trace ${seen.seenAddress}:${seen.seenPort} to name pod a's connection\n${await trace(master, seen)}\n${await diagnostics()}`);
    const status = (await api(master, "GET", "/v1/status")).body as { translationLog?: { state: string; eventsMalformed: number; eventsIngested: number } };
    assert.equal(status.translationLog?.eventsMalformed, 0);
    assert.ok((status.translationLog?.eventsIngested ?? 0) > 0);
  });

  it("kill -9 of the daemon: systemd restarts it and traffic never stops", async () => {
    const master = await masterKey();
    const before = await unit(master, "egw.service", ["MainPID", "NRestarts"]);
    const prober = await startProber(topo.pods.a, SERVER);
    const stream = await openStream(topo.pods.b, SERVER);
    await machines[master].run("kill", ["-KILL", before.MainPID!]);
    await waitFor(async () => {
      const now = await unit(master, "egw.service", ["MainPID", "NRestarts", "ActiveState"]);
      return now.ActiveState === "active" && now.MainPID !== before.MainPID && Number(now.NRestarts) > Number(before.NRestarts);
    }, 30_000, "systemd to restart the daemon");
    await waitFor(async () => (await role(master)) === "master", 20_000, "the restarted daemon to answer as master");
    // A crash that systemd recovers moves nothing (OnFailure= is for a daemon that stays down: RestartMode=direct).
    assert.deepEqual(await holds(other(master)), [], "the peer never took the floating IPs");
    const probe = await prober.finish();
    const flow = await stream.finish();
    assert.deepEqual(Object.keys(probe.seen), [EGRESS[0]], "every new connection left with pod a's egress IP");
    assert.ok(probe.outageMs < 1_000 && (probe.openGapMs ?? 0) < 1_000, `no outage while the daemon was dead: ${JSON.stringify(probe)}`);
    assert.equal(flow.error, null, `the established stream survived: ${JSON.stringify(flow)}`);
  });

  it("a hung event loop stops the watchdog pings: systemd kills and restarts the daemon", async () => {
    const master = await masterKey();
    const before = await unit(master, "egw.service", ["MainPID", "NRestarts"]);
    // SIGSTOP freezes the daemon as a hung loop would: no more WATCHDOG=1.
    await machines[master].run("kill", ["-STOP", before.MainPID!]);
    await waitFor(async () => {
      const now = await unit(master, "egw.service", ["MainPID", "NRestarts", "ActiveState"]);
      return now.ActiveState === "active" && now.MainPID !== before.MainPID && Number(now.NRestarts) > Number(before.NRestarts);
    }, 60_000, "the watchdog to restart the daemon");
    assert.match(await journal(master, ["-o", "cat"]), /[Ww]atchdog timeout/);
    assert.equal(await seenAs("a"), EGRESS[0]);
  });

  it("keepalived SIGKILLed on the master: its floating IPs leave its interfaces, the peer takes them, and the restarted keepalived stays backup", async () => {
    const master = await masterKey();
    const backup = other(master);
    // The daemon restarted by the test above rewrites keepalived's configuration and egw-keepalived-reload.path
    // reloads it: kill keepalived once that is done (systemd has no job left), not in the middle of the reload.
    await waitFor(async () => (await machines[master].run("systemctl", ["list-jobs", "--no-legend"])).stdout.trim() === "", 20_000, "systemd's jobs to finish");
    const stream = await openStream(topo.pods.a, SERVER);
    await machines[master].run("pkill", ["-KILL", "-x", "keepalived"]);
    await waitFor(async () => (await holds(backup)).length === 3, 20_000, `the peer to take the floating IPs\n${await diagnostics()}`);
    await waitFor(async () => (await holds(master)).length === 0, 20_000, "the killed master to hold no floating IP");
    // systemd restarts keepalived; it comes back as BACKUP (nopreempt) and takes nothing back.
    await waitFor(async () => (await unit(master, "keepalived.service", ["ActiveState"])).ActiveState === "active", 20_000, "keepalived to be restarted");
    await waitFor(async () => (await role(master)) === "backup", 20_000, "the old master to be backup");
    assert.deepEqual(await holds(master), [], "no duplicate address after keepalived's restart");
    assert.equal((await holds(backup)).length, 3);
    const flow = await stream.finish();
    assert.equal(flow.error, null, `the established stream survived the failover: ${JSON.stringify(flow)}`);
    assert.equal(await seenAs("a"), EGRESS[0]);
  });

  it("logs to journald with each line's priority: journalctl -p err shows only errors", async () => {
    // After the test above: keepalived's death on the master was logged at error level on that gateway.
    const master = other(await masterKey());
    const entries = (await journal(master, ["-o", "json"])).trim().split("\n").map((line) => JSON.parse(line) as { MESSAGE?: string; PRIORITY?: string });
    const expected: Record<string, string> = { trace: "7", debug: "7", info: "6", warn: "4", error: "3", fatal: "2" };
    const daemonLines = entries.flatMap((entry) => {
      try {
        const parsed = JSON.parse(String(entry.MESSAGE)) as { level?: string; msg?: string };
        return typeof parsed.level === "string" ? [{ level: parsed.level, priority: entry.PRIORITY, msg: parsed.msg }] : [];
      } catch {
        return [];
      }
    });
    assert.ok(daemonLines.some((line) => line.msg === "egw started" && line.priority === "6"), "the start is logged at info");
    assert.ok(!(await journal(master, ["-p", "warning", "-o", "cat"])).includes("\"egw started\""), "an info line is not in -p warning");
    for (const line of daemonLines) assert.equal(line.priority, expected[line.level], `priority of ${JSON.stringify(line)}`);
    const errorsOnly = (await journal(master, ["-p", "err", "-o", "cat"])).split("\n").filter((line) => line.startsWith("{"));
    assert.ok(errorsOnly.length > 0, "keepalived's death was logged as an error");
    for (const line of errorsOnly) assert.ok(["error", "fatal"].includes((JSON.parse(line) as { level: string }).level), `only errors under -p err: ${line}`);
  });

  it("systemctl stop egw on the master hands over gracefully: no established connection is lost", async () => {
    const master = await masterKey();
    const backup = other(master);
    const stream = await openStream(topo.pods.a, SERVER);
    await machines[master].run("systemctl", ["stop", "egw.service"]);
    assert.equal(await role(backup), "master", `the peer became master before the daemon exited\n${await diagnostics()}`);
    assert.match(await journal(master, ["-o", "cat"]), /handed the floating IPs to the peer/);
    await sleep(1_000);
    const flow = await stream.finish();
    assert.equal(flow.error, null, `the established stream survived the handover: ${JSON.stringify(flow)}`);
    assert.equal(await seenAs("a"), EGRESS[0]);
    await machines[master].run("systemctl", ["start", "egw.service"]);
    await waitFor(async () => (await role(master)) === "backup", 30_000, "the stopped gateway to come back as backup");
  });

  it("a daemon that fails for good on the master (a broken config): the peer takes the floating IPs; fixed, it returns as backup", async () => {
    const master = await masterKey();
    const backup = other(master);
    const m = machines[master];
    await m.run("cp", ["-p", "/etc/egw/egw.yaml", "/etc/egw/egw.yaml.good"]);
    await m.run("sh", ["-c", "echo 'not-a-field: 1' >> /etc/egw/egw.yaml"]);
    // The crash is restarted; the restart exits 78 (the config is invalid) and systemd gives up: OnFailure= runs.
    await m.run("kill", ["-KILL", (await unit(master, "egw.service", ["MainPID"])).MainPID!]);
    await waitFor(async () => (await unit(master, "egw.service", ["ActiveState"])).ActiveState === "failed", 30_000, "systemd to give up on the daemon");
    await waitFor(async () => (await holds(backup)).length === 3, 20_000, `the peer to take the floating IPs\n${await diagnostics()}`);
    await waitFor(async () => (await holds(master)).length === 0, 20_000, "the failed master to hold no floating IP");
    assert.equal(await seenAs("a"), EGRESS[0]);
    await m.run("mv", ["/etc/egw/egw.yaml.good", "/etc/egw/egw.yaml"]);
    await m.run("systemctl", ["reset-failed", "egw.service"]);
    await m.run("systemctl", ["start", "egw.service"]);
    await waitFor(async () => (await role(master)) === "backup", 30_000, "the repaired gateway to return as backup");
    assert.deepEqual(await holds(master), []);
  });

  it("a rolling upgrade (backup first, handover, then the old master) keeps a stream alive and loses no acknowledged write", async () => {
    const packageN1 = buildUpgradePackage(packageN, join(work, "packages"));
    const clusterToken = await api(await masterKey(), "POST", "/v1/clusters/prod/tokens", { description: "upgrade-check" });
    assert.equal(clusterToken.status, 201, JSON.stringify(clusterToken.body));
    const secret = (clusterToken.body as { token: string }).token;
    // A connection made before the upgrade, recorded by the master of then, which is upgraded last.
    const recordedBy = await masterKey();
    const earlier = await tupleConnection();
    await waitFor(async () => traceRow(earlier).test(await trace(recordedBy, earlier)), 10_000, "the connection made before the upgrade to be recorded");
    const stream = await openStream(topo.pods.a, SERVER);
    const acknowledged: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 250; i++) {
        const name = `w-${i}`;
        // Through whichever gateway answers: a backup forwards to the master.
        for (const key of ["a", "b"] as const) {
          const created = await api(key, "POST", "/v1/clusters", { name, sourceRanges: [`10.250.${i}.0/24`] }).catch(() => undefined);
          if (created?.status === 201) {
            acknowledged.push(name);
            break;
          }
        }
        await sleep(100);
      }
    })();
    // The operator's guide's steps: a backup, then the package over the old one (its postinst restarts the daemon).
    const upgrade = async (key: GatewayKey) => {
      copyFileSync(packageN1, machines[key].path(`/tmp/${basename(packageN1)}`));
      await machines[key].run("egw", ["backup"]);
      await machines[key].run("apt-get", ["install", "-y", "-o", "Dpkg::Options::=--force-confold", `/tmp/${basename(packageN1)}`]);
      await waitFor(async () => (await unit(key, "egw.service", ["ActiveState"])).ActiveState === "active" && ["master", "backup"].includes(await role(key)), 60_000, `${key} to run the new version`);
    };
    const first = other(await masterKey());
    await upgrade(first);
    await waitFor(async () => (await role(first)) === "backup", 30_000, "the upgraded backup to rejoin");
    const oldMaster = other(first);
    await machines[oldMaster].run("egw", ["handover"]);
    await waitFor(async () => (await role(first)) === "master", 30_000, "the upgraded gateway to take over");
    await upgrade(oldMaster);
    await waitFor(async () => (await role(oldMaster)) === "backup", 30_000, "the old master to return as backup");
    writing = false;
    await writer;
    const flow = await stream.finish();
    assert.equal(flow.error, null, `the stream survived the rolling upgrade: ${JSON.stringify(flow)}`);
    assert.ok(acknowledged.length > 10, `writes were acknowledged during the upgrade (${acknowledged.length})`);
    for (const key of ["a", "b"] as const) {
      await waitFor(async () => {
        const list = (await api(key, "GET", "/v1/clusters")).body as { clusters: { name: string }[] };
        const names = new Set(list.clusters.map((c) => c.name));
        return acknowledged.every((name) => names.has(name));
      }, 30_000, `${key} to hold every acknowledged write`);
      const version = await machines[key].run("egw", ["--version"]);
      assert.match(version.stdout, new RegExp(`^egw ${basename(packageN1).split("_")[1]!.replace(/[+.]/g, "\\$&")} `));
      // The operator's configuration was kept, the release's new example set beside it.
      assert.equal((await machines[key].run("test", ["-e", "/etc/egw/egw.yaml.dpkg-dist"], { reject: false })).exitCode, 0);
      assert.match((await machines[key].run("cat", ["/etc/egw/egw.yaml"])).stdout, /provision-gateway\.sh/);
      // The new unit file took effect (the upgrade reloads systemd and restarts the daemon with it).
      assert.match((await unit(key, "egw.service", ["Environment"])).Environment ?? "", /EGW_UPGRADE_PROBE=1/);
      // The store migrated: the new release's migration ran on the existing database.
      const migrated = await machines[key].run("node", ["-e",
        "const D=require('/usr/lib/egw/node_modules/better-sqlite3');const d=new D('/var/lib/egw/egw.db',{readonly:true});" +
        "console.log(d.prepare(\"select count(*) c from sqlite_master where name='upgrade_probe'\").get().c)"]);
      assert.equal(migrated.stdout.trim(), "1");
      // The configuration and the tokens survived.
      assert.equal((await api(key, "GET", "/v1/clusters/prod/mappings", undefined, secret)).status, 200);
    }
    assert.equal(await seenAs("a"), EGRESS[0]);
    // The translation log survived: the connection made before the upgrade is still answered, by both gateways
    // (the one that recorded it, and its peer, which asks it).
    for (const key of ["a", "b"] as const) assert.match(await trace(key, earlier), traceRow(earlier), `${key} answers for the connection made before the upgrade`);
    for (const key of ["a", "b"] as const) {
      const status = (await api(key, "GET", "/v1/status")).body as { translationLog?: { state: string } };
      assert.equal(status.translationLog?.state, "running", `${key}: ${JSON.stringify(status.translationLog)}`);
    }
    const later = await tupleConnection();
    await waitFor(async () => traceRow(later).test(await trace(recordedBy, later)), 10_000, "a connection after the upgrade to be recorded");
  });

  it("apt remove keeps the state and the configuration; apt purge removes them", async () => {
    const key: GatewayKey = (await role("a")) === "backup" ? "a" : "b";
    const exists = async (path: string) => (await machines[key].run("test", ["-e", path], { reject: false })).exitCode === 0;
    await machines[key].run("apt-get", ["remove", "-y", "egw"]);
    assert.equal((await unit(key, "egw.service", ["ActiveState"])).ActiveState, "inactive");
    assert.ok(await exists("/var/lib/egw/egw.db"), "remove keeps the store");
    assert.ok(await exists("/var/lib/egw/translations/translations.db"), "remove keeps the translation log");
    assert.deepEqual((await ulogds(key)).filter((p) => p.unit === "egw.service" || p.user === "egw"), [], "egw's ulogd stopped with the daemon");
    assert.ok(await exists("/etc/egw/admin-token"), "remove keeps /etc/egw");
    await machines[key].run("apt-get", ["purge", "-y", "egw"]);
    assert.ok(!(await exists("/var/lib/egw")), "purge removes the state, the translation log with it");
    assert.equal((await unit(key, "ulogd2.service", ["ActiveState"])).ActiveState, "active", "Debian's ulogd2 is the operator's: purge leaves it");
    assert.ok(!(await exists("/etc/egw")), "purge removes /etc/egw");
  });
});
