import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { systemHost, type DoctorHost } from "../../../appliance/cli/commands/doctor-host.js";
import { doctorCommand, formatChecks, runDoctor } from "../../../appliance/cli/commands/doctor.js";
import { ExecaRunner } from "../../../appliance/system/runner.js";
import { FakeSystem } from "../../helpers/fake-system.js";
import { captureIo } from "./fake-api.js";

/** A host made of a table of files (kernel settings among them, under /proc/sys) and commands; everything else is missing. */
function fakeHost(files: Record<string, string>, commands: Record<string, { exitCode: number; stdout: string; stderr?: string }>, modes: Record<string, number> = {}): DoctorHost {
  return {
    readText: (path) => files[path],
    stat: (path) => (files[path] === undefined ? undefined : { mode: 0o100000 | (modes[path] ?? 0o600), uid: 0 }),
    sysctl: (key) => files[`/proc/sys/${key}`],
    run: async (command) => {
      const result = commands[command];
      return result && { stderr: "", ...result };
    },
  };
}

const sys = (key: string) => `/proc/sys/${key.replaceAll(".", "/")}`;

describe("egw doctor", () => {
  let dir: string;
  let config: string;
  let haConfig: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-doctor-"));
    config = join(dir, "egw.yaml");
    writeFileSync(config, [
      "gateway: {name: gw1}",
      "api: {listen: ['unix:/run/egw/api.sock'], adminTokenFile: /etc/egw/admin-token}",
      "database: {path: /var/lib/egw/egw.db}",
      "network: {inside: {interface: eth1}, outside: {interface: eth2}}",
      "",
    ].join("\n"));
    haConfig = join(dir, "egw-ha.yaml");
    writeFileSync(haConfig, [
      "gateway: {name: gw-a}",
      "api: {listen: ['unix:/run/egw/api.sock'], adminTokenFile: /etc/egw/admin-token}",
      "database: {path: /var/lib/egw/egw.db}",
      "network: {inside: {interface: eth1}, outside: {interface: eth2}}",
      "ha:",
      "  insideVips: [172.31.0.1/24]",
      "  syncLink: {interface: eth3, address: 192.168.255.1}",
      "  peer: {name: gw-b, address: 192.168.255.2}",
      "  tls: {cert: /etc/egw/peer/gw-a.crt, key: /etc/egw/peer/gw-a.key, peerCertificates: /etc/egw/peer/trusted.pem}",
      "",
    ].join("\n"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const healthy: Record<string, string> = {
    "/etc/egw/admin-token": "q3ZtWk8vR1xN5bLp0cYs7HdJ2gFm9aTe4uKo6iQw3rE=\n",
    [sys("net.ipv4.ip_forward")]: "1\n",
    [sys("net.ipv6.conf.all.forwarding")]: "1\n",
    [sys("net.ipv4.conf.all.rp_filter")]: "0\n",
    [sys("net.ipv4.conf.eth1.rp_filter")]: "2\n",
    [sys("net.ipv4.conf.eth2.rp_filter")]: "0\n",
    [sys("net.netfilter.nf_conntrack_max")]: "262144\n",
    [sys("net.netfilter.nf_conntrack_count")]: "1200\n",
  };
  const tools = {
    nft: { exitCode: 0, stdout: "nftables v1.1.3 (Commodore Bullmoose #4)\n" },
    timedatectl: { exitCode: 0, stdout: "yes\n" },
  };

  it("a healthy single gateway passes, and keepalived is optional there", async () => {
    const checks = await runDoctor(fakeHost(healthy, tools), config, undefined);
    const byName = Object.fromEntries(checks.map((c) => [c.check, c]));
    assert.equal(byName["config"]?.status, "ok");
    assert.match(byName["config"]?.detail ?? "", /gateway gw1, single gateway/);
    assert.equal(byName["admin token file"]?.status, "ok");
    assert.equal(byName["rp_filter inside (eth1)"]?.detail, "2 (all=0, eth1=2) (loose)");
    assert.equal(byName["nft"]?.detail, "version 1.1.3");
    assert.equal(byName["keepalived"]?.status, "ok");
    assert.match(byName["keepalived"]?.detail ?? "", /not installed \(only needed with an ha section\)/);
    assert.equal(byName["conntrack table"]?.detail, "1200 of 262144 entries (0.5%)");
    assert.equal(byName["clock"]?.status, "ok");
    assert.equal(byName["api"]?.status, "unknown");
    assert.ok(checks.every((c) => c.status !== "fail"), JSON.stringify(checks));
  });

  it("warns about strict rp_filter, a full conntrack table and an unsynchronised clock; fails on missing tools in HA", async () => {
    const files = {
      ...healthy,
      [sys("net.ipv4.conf.all.rp_filter")]: "1\n",
      [sys("net.netfilter.nf_conntrack_count")]: "200000\n",
      "/etc/egw/peer/gw-a.key": "short\n",
    };
    const checks = await runDoctor(fakeHost(files, { ...tools, timedatectl: { exitCode: 0, stdout: "no\n" } }, { "/etc/egw/admin-token": 0o644 }), haConfig, undefined);
    const byName = Object.fromEntries(checks.map((c) => [c.check, c]));
    assert.equal(byName["rp_filter outside (eth2)"]?.status, "warn");
    assert.match(byName["rp_filter outside (eth2)"]?.detail ?? "", /^1 \(all=1, eth2=0\) without src_valid_mark: the kernel's reverse-path check of replies to pods/);
    assert.match(byName["rp_filter inside (eth1)"]?.detail ?? "", /^2 \(all=1, eth1=2\)/);
    assert.equal(byName["conntrack table"]?.status, "warn");
    assert.equal(byName["clock"]?.status, "warn");
    assert.equal(byName["admin token file"]?.status, "warn");
    assert.match(byName["admin token file"]?.detail ?? "", /mode 0644: readable by group or others; chmod 600/);
    assert.equal(byName["peer TLS private key"]?.status, "fail");
    assert.equal(byName["keepalived"]?.status, "fail");
    assert.equal(byName["conntrackd"]?.status, "fail");
    assert.equal(byName["nf_conntrack_tcp_be_liberal"]?.status, "warn");
  });

  it("checks every named admin token file, and fails one that is easy to guess", async () => {
    const named = join(dir, "egw-named.yaml");
    writeFileSync(named, [
      "gateway: {name: gw1}",
      "api: {adminTokens: [{name: alice, file: /etc/egw/alice-token}, {name: bob, file: /etc/egw/bob-token}]}",
      "database: {path: /var/lib/egw/egw.db}",
      "network: {inside: {interface: eth1}, outside: {interface: eth2}}",
      "",
    ].join("\n"));
    const files = { ...healthy, "/etc/egw/alice-token": "Zq7vT2mR9xK4pL8wN3bH6cJ1dF5gS0aYe2uWo1Ip\n", "/etc/egw/bob-token": `${"ab".repeat(20)}\n` };
    const checks = await runDoctor(fakeHost(files, tools), named, undefined);
    const byName = Object.fromEntries(checks.map((c) => [c.check, c]));
    assert.equal(byName["admin token file"], undefined, "no legacy file configured");
    assert.equal(byName["admin token file (alice)"]?.status, "ok");
    assert.equal(byName["admin token file (bob)"]?.status, "fail");
    assert.match(byName["admin token file (bob)"]?.detail ?? "", /too easy to guess/);
  });

  it("reports an invalid config and what it cannot check without one", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "gateway: {name: Not_A_Label}\n");
    const checks = await runDoctor(fakeHost({}, {}), bad, undefined);
    assert.equal(checks[0]?.status, "fail");
    assert.match(checks[0]?.detail ?? "", /is not valid/);
    assert.equal(checks.find((c) => c.check === "rp_filter")?.status, "unknown");
    assert.equal(checks.find((c) => c.check === "nft")?.status, "fail");
    assert.equal(checks.find((c) => c.check === "clock")?.status, "unknown");
    assert.equal(checks.find((c) => c.check === "conntrack table")?.status, "unknown");
  });

  it("on the system module: a tool that is not installed and a setting that cannot be read are missing, not failures", async () => {
    const fake = new FakeSystem();
    const host = systemHost(fake, fake.sysctls);
    assert.equal(await host.run("keepalived", ["--version"]), undefined);
    assert.equal(host.sysctl("net/ipv4/ip_forward"), "0");
    assert.equal(host.sysctl("net/ipv4/conf/eth9/rp_filter"), undefined);
    const real = systemHost(new ExecaRunner(), fake.sysctls);
    assert.equal(await real.run("egw-no-such-tool", ["--version"]), undefined);
    assert.deepEqual(await real.run("sh", ["-c", "echo v1.2.3; exit 1"]), { stdout: "v1.2.3\n", stderr: "", exitCode: 1 }, "an installed tool's answer, whatever its exit code");
  });

  it("prints a table and a count, and exits 1 only when a check fails", async () => {
    const text = formatChecks([{ check: "nft", status: "ok", detail: "version 1.0.6" }, { check: "clock", status: "warn", detail: "not synchronised" }]);
    assert.equal(text, "CHECK  STATUS  DETAIL\nnft    ok      version 1.0.6\nclock  WARN    not synchronised\n\n0 failed, 1 warning(s), 1 ok or unknown\n");
    const io = captureIo();
    const code = await doctorCommand(["--config", config, "--json", "--socket", join(dir, "none.sock")], io, fakeHost(healthy, tools));
    const report = JSON.parse(io.out()) as { ok: boolean; checks: { check: string; status: string }[] };
    assert.equal(report.checks.find((c) => c.check === "api")?.status, "fail", "nothing listens at the socket");
    assert.equal(report.ok, false);
    assert.equal(code, 1);
  });
});
