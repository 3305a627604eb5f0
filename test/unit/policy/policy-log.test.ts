import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import pino from "pino";
import { Registry } from "prom-client";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";
import { PolicyLog, type PolicyAttribution } from "../../../appliance/egress-policy/policy-log.js";
import type { SupervisedSpec } from "../../../appliance/system/supervisor.js";
import { renderPolicyUlogdConfig, type PolicyLogSettings } from "../../../appliance/egress-policy/policy-log-config.js";
import { registerPolicyLogMetrics } from "../../../appliance/egress-policy/policy-log-metrics.js";
import { FakeFiles } from "../../helpers/fake-files.js";

const lines = readFileSync(join(PACKAGE_ROOT, "test/unit/fixtures/ulogd-policy/capture.jsonl"), "utf8").split("\n").filter(Boolean);
const [udpDenied, udp6FloorDenied, tcpAudited] = lines as [string, string, string];
const withSource = (line: string, source: string) => JSON.stringify({ ...(JSON.parse(line) as object), src_ip: source });

const SETTINGS: PolicyLogSettings = {
  enabled: true, group: 7, ulogd: { command: "ulogd", pluginDirectory: "/usr/lib/x86_64-linux-gnu/ulogd/" }, recent: { perCluster: 200, total: 1_000 },
};
const DIRECTORY = "/run/egw/policy-log";
const CONFIG_PATH = `${DIRECTORY}/ulogd-policy.conf`;
const FIFO_PATH = `${DIRECTORY}/ulogd-policy.fifo`;

/** ulogd as the supervisor would run it: the test says when it spawns and exits. */
class FakeUlogd extends EventEmitter {
  started = 0;
  stopped = 0;
  constructor(readonly spec: SupervisedSpec) {
    super();
  }
  start(): void {
    this.started++;
    this.emit("spawn", 1234);
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
  crash(): void {
    this.emit("exit", { pid: 1234, exitCode: 1, signal: undefined, expected: false });
  }
}

/** The FIFO: the test writes lines into it. */
class FakeFifo {
  path: string | undefined;
  closed = false;
  private onLine: ((line: string) => void) | undefined;
  follow = (path: string, onLine: (line: string) => void) => {
    this.path = path;
    this.onLine = onLine;
    return { close: () => void (this.closed = true) };
  };
  write(line: string): void {
    if (this.closed || !this.onLine) throw new Error("nobody reads the FIFO");
    this.onLine(line);
  }
}

/** 10.77.0.0/24 is blue/web; nothing else is anyone's. */
const byPrefix: PolicyAttribution = (source) => (source.startsWith("10.77.0.") ? { cluster: "blue", mapping: "web" } : undefined);

function setUp(options: { attribute?: PolicyAttribution; settings?: PolicyLogSettings } = {}) {
  const files = new FakeFiles();
  const fifo = new FakeFifo();
  const ulogds: FakeUlogd[] = [];
  const logged: Record<string, unknown>[] = [];
  const log = pino({ level: "info" }, { write: (text: string) => void logged.push(JSON.parse(text) as Record<string, unknown>) });
  const policyLog = new PolicyLog({
    settings: options.settings ?? SETTINGS, files, directory: DIRECTORY, generatedFor: "gw-a",
    attribute: options.attribute ?? byPrefix, log, clock: () => 42,
    ulogd: (spec) => {
      const ulogd = new FakeUlogd(spec);
      ulogds.push(ulogd);
      return ulogd;
    },
    followFifo: fifo.follow,
  });
  return { files, fifo, ulogds, logged, policyLog };
}

describe("policy log: ulogd's NFLOG events → log lines, metrics, recent events", () => {
  it("renders ulogd's config: NFLOG on the group, the stack, JSON into the FIFO, its own log to stdout", () => {
    const text = renderPolicyUlogdConfig({ ...SETTINGS, group: 12 }, { fifoPath: FIFO_PATH, generatedFor: "gw-a" });
    for (const expected of ['logfile="stdout"', 'plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_inppkt_NFLOG.so"',
      'plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_JSON.so"', "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON",
      "group=12", "netlink_qthreshold=1", `file="${FIFO_PATH}"`, "sync=1"]) {
      assert.ok(text.split("\n").includes(expected), `${expected} in\n${text}`);
    }
  });

  it("makes the FIFO, reads it, starts ulogd on its config; follows ulogd's restarts; stops both", async () => {
    const { files, fifo, ulogds, policyLog } = setUp();
    assert.equal(policyLog.status().state, "stopped");
    await policyLog.start();
    await policyLog.start();
    assert.equal(ulogds.length, 1, "a second start does not start a second ulogd");
    assert.deepEqual(ulogds[0]?.spec, { name: "ulogd-policy", command: "ulogd", args: ["-c", CONFIG_PATH] });
    assert.equal(files.directories.get(DIRECTORY), 0o700);
    assert.equal(files.fifos.get(FIFO_PATH), 0o600);
    assert.equal(fifo.path, FIFO_PATH);
    const config = files.files.get(CONFIG_PATH);
    assert.equal(config?.mode, 0o600);
    assert.match(config?.content ?? "", /^group=7$/m);
    assert.deepEqual([policyLog.status().state, policyLog.status().starts], ["running", 1]);
    ulogds[0]?.crash();
    assert.equal(policyLog.status().state, "not-running");
    ulogds[0]?.start();
    assert.deepEqual([policyLog.status().state, policyLog.status().starts], ["running", 2]);
    await policyLog.stop();
    assert.equal(ulogds[0]?.stopped, 1);
    assert.ok(fifo.closed);
    assert.equal(policyLog.status().state, "stopped");
  });

  it("turns each line into an attributed event: a structured log line, a count, the cluster's recent events", async () => {
    const { fifo, logged, policyLog } = setUp();
    await policyLog.start();
    fifo.write(udpDenied);
    fifo.write(tcpAudited);
    const [denied, audited] = logged.filter((line) => "event" in line);
    assert.deepEqual(
      { ...denied, level: undefined, time: undefined, pid: undefined, hostname: undefined },
      { level: undefined, time: undefined, pid: undefined, hostname: undefined, event: "policy-denied", cluster: "blue", mapping: "web", source: "10.77.0.1",
        sourcePort: 43662, destination: "10.77.0.2", protocol: "udp", destinationPort: 9, msg: "connection refused by an egress policy" },
    );
    assert.equal(audited?.event, "policy-audited");
    assert.equal(audited?.destinationPort, 80);
    assert.deepEqual(policyLog.recent.ofCluster("blue").map((e) => [e.verdict, e.mapping, e.destination, e.destinationPort]),
      [["audited", "web", "10.77.0.2", 80], ["denied", "web", "10.77.0.2", 9]]);
    const status = policyLog.status();
    assert.deepEqual(status.events, { denied: 1, audited: 1, "floor-denied": 0 });
    assert.equal(status.lastEventMs, 1_796_268_427_277);
  });

  it("keeps an unattributed event with cluster null, for administrators only, and counts it", async () => {
    const { fifo, logged, policyLog } = setUp();
    await policyLog.start();
    fifo.write(udp6FloorDenied);
    const line = logged.find((l) => l.event === "floor-denied");
    assert.equal(line?.cluster, null);
    assert.equal(line?.mapping, null);
    assert.equal(policyLog.recent.unattributed().length, 1);
    assert.deepEqual(policyLog.recent.ofCluster("blue"), []);
    assert.equal(policyLog.status().unattributed, 1);
    assert.equal(policyLog.status().events["floor-denied"], 1);
  });

  it("an attribution that throws leaves the event recorded as unattributed; later events are attributed again", async () => {
    let broken = true;
    const { fifo, logged, policyLog } = setUp({ attribute: (source) => {
      if (broken) throw new Error("mappings not loaded");
      return byPrefix(source);
    } });
    await policyLog.start();
    fifo.write(udpDenied);
    broken = false;
    fifo.write(withSource(udpDenied, "10.77.0.9"));
    assert.deepEqual(policyLog.recent.all().map((e) => [e.source, e.cluster]), [["10.77.0.9", "blue"], ["10.77.0.1", null]]);
    assert.ok(logged.some((l) => l.msg === "policy log: attribution failed; the event is kept as unattributed"));
  });

  it("counts lines it cannot read, and logs the 1st, 2nd, 4th… of them only", async () => {
    const { fifo, logged, policyLog } = setUp();
    await policyLog.start();
    for (let i = 0; i < 9; i++) fifo.write(i % 2 ? "garbage" : JSON.stringify({ "oob.prefix": "someone-elses-rule" }));
    assert.equal(policyLog.status().unparsed, 9);
    assert.equal(logged.filter((l) => l.msg === "policy log: line not understood").length, 4);
    assert.equal(policyLog.recent.count, 0);
  });

  it("does nothing when disabled; a config it cannot write leaves it failed, not thrown, with nothing running", async () => {
    const disabled = setUp({ settings: { ...SETTINGS, enabled: false } });
    await disabled.policyLog.start();
    assert.equal(disabled.ulogds.length, 0);
    assert.equal(disabled.fifo.path, undefined);
    assert.equal(disabled.policyLog.status().state, "stopped");
    const full = setUp();
    full.files.failWrites = "ENOSPC: no space left on device";
    await full.policyLog.start();
    assert.equal(full.ulogds.length, 0);
    assert.equal(full.policyLog.status().state, "failed");
    assert.match(full.policyLog.status().error ?? "", /ENOSPC/);
  });

  it("exposes events by verdict, unexplained lines by reason, and whether it is up", async () => {
    const { fifo, policyLog } = setUp();
    const registry = new Registry();
    registerPolicyLogMetrics(registry, () => policyLog.status());
    assert.ok((await registry.metrics()).split("\n").includes("egw_policy_log_up 0"), "not started yet");
    await policyLog.start();
    fifo.write(udpDenied);
    fifo.write(udpDenied);
    fifo.write(udp6FloorDenied);
    fifo.write("garbage");
    const text = await registry.metrics();
    for (const expected of ["egw_policy_log_up 1", 'egw_policy_log_events_total{verdict="denied"} 2', 'egw_policy_log_events_total{verdict="audited"} 0',
      'egw_policy_log_events_total{verdict="floor-denied"} 1', 'egw_policy_log_unexplained_total{reason="unparsed"} 1',
      'egw_policy_log_unexplained_total{reason="unattributed"} 1']) {
      assert.ok(text.split("\n").includes(expected), `${expected} in\n${text}`);
    }
  });
});
