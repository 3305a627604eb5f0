import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { configSchema, type Config } from "../../../appliance/config/schema.js";
import { HealthFile } from "../../../appliance/ha/health-file.js";
import { keepalivedView, type KeepalivedView } from "../../../appliance/ha/keepalived-view.js";
import { KeepalivedManager } from "../../../appliance/ha/keepalived.js";
import { renderTemplate } from "../../../appliance/ha/templates.js";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";
import { ExecaRunner, type CommandRunner } from "../../../appliance/system/runner.js";
import { hostCommandsAndFiles } from "../../../appliance/system/system.js";

/** The golden file lives in the source tree (tsc does not copy it to dist). Set EGW_UPDATE_GOLDEN=1 to rewrite it. */
const GOLDEN = join(PACKAGE_ROOT, "test/unit/ha/fixtures/keepalived.golden.conf");
const FILES = { notifyFifo: "/run/egw/keepalived.fifo", healthFile: "/run/egw/health" };
const EGRESS = ["203.0.113.10", "2001:db8::10", "203.0.113.11", "2001:db8:0:1::20"];

function config(ha: Record<string, unknown> = {}, interfaces = { inside: "inside", outside: "outside" }): Config {
  return configSchema.parse({
    gateway: { name: "gw-a" },
    api: { adminTokenFile: "/etc/egw/admin-token" },
    database: { path: "/var/lib/egw/egw.db" },
    network: { inside: { interface: interfaces.inside }, outside: { interface: interfaces.outside } },
    ha: {
      insideVips: ["172.31.0.1/24", "FD00:31:0::1/64", "172.31.1.1/32"],
      syncLink: { interface: "sync", address: "10.255.0.1" },
      peer: { name: "gw-b", address: "10.255.0.2" },
      tls: { cert: "/etc/egw/peer/gw-a.crt", key: "/etc/egw/peer/gw-a.key", peerCertificates: "/etc/egw/peer/trusted.pem" },
      ...ha,
    },
  });
}

function viewOf(cfg: Config, egressIps: readonly string[]): KeepalivedView {
  assert.ok(cfg.ha);
  return keepalivedView(cfg, cfg.ha, egressIps, FILES);
}

const egressIps = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? `203.0.113.${100 + i}` : `2001:db8::${(100 + i).toString(16)}`));

describe("keepalivedView", () => {
  it("builds one instance egw_inside: IPv4 VIPs advertised on inside; IPv6 VIPs and every egress IP excluded, egress IPs on outside", () => {
    const view = viewOf(config(), EGRESS);
    assert.deepEqual(view, {
      generatedFor: "gw-a",
      routerId: "gw-a",
      notifyFifo: "/run/egw/keepalived.fifo",
      healthFile: "/run/egw/health",
      instances: [{
        name: "egw_inside",
        interface: "sync",
        routerId: 51,
        priority: 100,
        advertSeconds: "0.2",
        unicast: { source: "10.255.0.1", peers: ["10.255.0.2"] },
        trackInterfaces: ["inside", "outside"],
        advertised: ["172.31.0.1/24 dev inside", "172.31.1.1/32 dev inside"],
        excluded: [
          "fd00:31::1/64 dev inside",
          "203.0.113.10/32 dev outside",
          "2001:db8::10/128 dev outside",
          "203.0.113.11/32 dev outside",
          "2001:db8:0:1::20/128 dev outside",
        ],
      }],
    });
  });

  it("uses the configured interfaces, router id and priority; speaks only on the sync link", () => {
    const view = viewOf(config({ priority: 150, virtualRouterIds: { inside: 7 }, syncLink: { interface: "eth3", address: "192.168.255.1" } }, { inside: "eth1", outside: "eth2" }), ["203.0.113.10"]);
    const instance = view.instances[0];
    assert.equal(view.instances.length, 1);
    assert.equal(instance?.interface, "eth3");
    assert.equal(instance?.routerId, 7);
    assert.equal(instance?.priority, 150);
    assert.deepEqual(instance?.trackInterfaces, ["eth1", "eth2"]);
    assert.deepEqual(instance?.advertised, ["172.31.0.1/24 dev eth1", "172.31.1.1/32 dev eth1"]);
    assert.deepEqual(instance?.excluded, ["fd00:31::1/64 dev eth1", "203.0.113.10/32 dev eth2"]);
  });

  for (const [ms, seconds] of [[200, "0.2"], [1000, "1"], [50, "0.05"], [1250, "1.25"], [10_000, "10"]] as const) {
    it(`writes advertIntervalMs ${ms} as advert_int ${seconds}`, () => {
      assert.equal(viewOf(config({ advertIntervalMs: ms }), []).instances[0]?.advertSeconds, seconds);
    });
  }

  it("sends adverts by unicast from this gateway's sync address to the peer's, never by multicast on a LAN", () => {
    assert.deepEqual(viewOf(config(), []).instances[0]?.unicast, { source: "10.255.0.1", peers: ["10.255.0.2"] });
  });

  it("refuses an IPv6-only inside-VIP list at config load, since keepalived needs an advertised IPv4 VIP", () => {
    assert.throws(() => config({ insideVips: ["fd00:31::1/64"] }), /IPv4/);
  });

  it("has the same structure for 0, 1 and 50 egress IPs: only the excluded egress lines differ (no VRRP re-init on reload)", () => {
    const cfg = config();
    const views = [0, 1, 50].map((n) => viewOf(cfg, egressIps(n)));
    assert.deepEqual(views.map((v) => v.instances[0]?.excluded.length), [1, 2, 51]);
    const structure = (v: KeepalivedView) => ({ ...v, instances: v.instances.map((i) => ({ ...i, excluded: i.excluded.filter((line) => !line.endsWith(" dev outside")) })) });
    assert.deepEqual(structure(views[1] as KeepalivedView), structure(views[0] as KeepalivedView));
    assert.deepEqual(structure(views[2] as KeepalivedView), structure(views[0] as KeepalivedView));
    const texts = views.map((v) => renderTemplate("keepalived.conf.hbs", v).split("\n").filter((line) => !/^\s+\S+\/(32|128) dev outside$/.test(line)).join("\n"));
    assert.equal(texts[1], texts[0], "rendered configs differ only in egress lines (1 vs 0)");
    assert.equal(texts[2], texts[0], "rendered configs differ only in egress lines (50 vs 0)");
    assert.equal(renderTemplate("keepalived.conf.hbs", views[2] as KeepalivedView).match(/ dev outside$/gm)?.length, 50);
  });
});

describe("keepalived.conf.hbs", () => {
  const golden = () => renderTemplate("keepalived.conf.hbs", viewOf(config(), EGRESS));

  it("renders the golden file test/unit/ha/fixtures/keepalived.golden.conf", () => {
    const actual = golden();
    if (process.env["EGW_UPDATE_GOLDEN"] === "1") writeFileSync(GOLDEN, actual);
    assert.equal(actual, readFileSync(GOLDEN, "utf8"));
  });

  it("has the settings failover depends on", () => {
    const text = golden();
    for (const line of [
      "  notify_fifo /run/egw/keepalived.fifo",
      "track_file egw_health {\n  file /run/egw/health\n}",
      "vrrp_instance egw_inside {",
      "  state BACKUP",
      "  nopreempt",
      "  interface sync",
      "  dont_track_primary",
      "  check_unicast_src",
      "  enable_script_security",
      "  virtual_router_id 51",
      "  advert_int 0.2",
      "  version 3",
      "  unicast_src_ip 10.255.0.1",
      "  unicast_peer {\n    10.255.0.2\n  }",
      "  track_file {\n    egw_health weight 0\n  }",
      "  track_interface {\n    inside\n    outside\n  }",
      "  virtual_ipaddress {\n    172.31.0.1/24 dev inside\n    172.31.1.1/32 dev inside\n  }",
    ]) assert.ok(text.includes(`${line}\n`), `missing:\n${line}`);
    assert.equal(text.match(/vrrp_instance /g)?.length, 1);
    assert.ok(!text.includes("vrrp_sync_group"), "no sync group of one");
    assert.ok(!/\{\{|\}\}/.test(text), "no unrendered mustache");
  });

  it("runs no script: nothing in it could run a command as root", () => {
    const text = golden();
    assert.ok(!/\b(notify|notify_master|notify_backup|notify_fault|notify_stop|vrrp_script|track_script)\b/.test(text), text);
  });
});

const isRoot = process.getuid?.() === 0;
const hasKeepalived = spawnSync("keepalived", ["--version"], { encoding: "utf8" }).error === undefined;
const hasIp = spawnSync("ip", ["-V"], { encoding: "utf8" }).error === undefined;

/**
 * The configurations are checked by the keepalived of this machine, as the daemon checks them: with the health file
 * they track in place. keepalived 2.3 (Debian 13) refuses a track_file that does not exist (exit 5, "realpath()
 * error … for egw_health"); 2.2 (Debian 12) accepts it.
 */
describe("keepalived -t accepts the rendered configuration", {
  skip: !isRoot ? "needs root for a network namespace" : !hasKeepalived || !hasIp ? "needs keepalived and iproute2" : false,
}, () => {
  const tag = randomBytes(4).toString("hex");
  const namespace = `egw-kat-${process.pid}-${tag}`;
  let dir = "";
  /** The daemon's run directory in these checks: the health file is written there, as the daemon does at start. */
  let run = "";
  const runFiles = () => ({ notifyFifo: join(run, "keepalived.fifo"), healthFile: join(run, "health") });

  const ip = (...args: string[]) => {
    const result = spawnSync("ip", args, { encoding: "utf8" });
    assert.equal(result.status, 0, `ip ${args.join(" ")}: ${result.stderr}`);
  };

  /** keepalived (and anything else) runs inside the namespace, where `inside`, `outside` and `sync` exist. */
  const inNamespace: CommandRunner = {
    run: (command, args, options) => new ExecaRunner().run("ip", ["netns", "exec", namespace, command, ...args], options),
  };

  /** Runs `keepalived -t -f FILE` inside the namespace. */
  const check = (text: string, name: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    const result = spawnSync("ip", ["netns", "exec", namespace, "keepalived", "-t", "-f", file], { encoding: "utf8", timeout: 30_000 });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  };

  const rendered = (cfg: Config, egress: readonly string[]) => {
    assert.ok(cfg.ha);
    return renderTemplate("keepalived.conf.hbs", keepalivedView(cfg, cfg.ha, egress, runFiles()));
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-keepalived-t-"));
    run = join(dir, "run");
    mkdirSync(run, { mode: 0o750 });
    new HealthFile(hostCommandsAndFiles().files, runFiles().healthFile).init();
    // Made inside the namespace: nothing is created in, or moved out of, the host's.
    ip("netns", "add", namespace);
    ip("-n", namespace, "link", "add", "inside", "type", "veth", "peer", "name", "outside");
    ip("-n", namespace, "link", "add", "sync", "type", "veth", "peer", "name", "sync-peer");
  });

  after(() => {
    spawnSync("ip", ["netns", "del", namespace]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("accepts the golden file (unicast on the sync link, IPv4 and IPv6 VIPs, mixed egress IPs)", () => {
    const golden = readFileSync(GOLDEN, "utf8");
    const text = golden.replace(`  file ${FILES.healthFile}\n`, `  file ${runFiles().healthFile}\n`);
    assert.notEqual(text, golden, "the golden file's health file line");
    const result = check(text, "golden.conf");
    assert.equal(result.status, 0, result.output);
  });

  it("accepts a config with 0 egress IPs", () => {
    const result = check(rendered(config(), []), "empty.conf");
    assert.equal(result.status, 0, result.output);
  });

  for (const ms of [50, 1000]) {
    it(`accepts advertIntervalMs ${ms} with 50 egress IPs`, () => {
      const result = check(rendered(config({ advertIntervalMs: ms }), egressIps(50)), `n50-${ms}.conf`);
      assert.equal(result.status, 0, result.output);
    });
  }

  it("rejects a config naming an interface the namespace lacks (so the checks above are real)", () => {
    const result = check(rendered(config({}, { inside: "inside", outside: "nosuch0" }), EGRESS), "missing.conf");
    assert.notEqual(result.status, 0, result.output);
    assert.match(result.output, /nosuch0/);
  });

  it("first start of a fresh gateway: before any health file exists, the daemon's first configuration passes this keepalived's -t", async () => {
    const fresh = join(dir, "fresh-run");
    mkdirSync(fresh, { mode: 0o750 });
    const paths = { notifyFifo: join(fresh, "keepalived.fifo"), healthFile: join(fresh, "health"), keepalived: join(fresh, "keepalived.conf") };
    const { files } = hostCommandsAndFiles();
    const cfg = config();
    assert.ok(cfg.ha);
    const manager = new KeepalivedManager(inNamespace, files, paths.keepalived, new HealthFile(files, paths.healthFile), { kind: "systemd" }, pino({ enabled: false }));
    assert.equal(existsSync(paths.healthFile), false);
    assert.equal(await manager.converge(keepalivedView(cfg, cfg.ha, ["203.0.113.10"], paths)), true);
    assert.equal(readFileSync(paths.healthFile, "utf8"), "0\n", "a healthy health file was written first");
    assert.match(readFileSync(paths.keepalived, "utf8"), new RegExp(`file ${paths.healthFile}\n`));
    assert.equal(existsSync(`${paths.keepalived}.new`), false);
  });
});
