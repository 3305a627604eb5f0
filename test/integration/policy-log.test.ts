import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { Netns, uniqueSuffix, veth } from "../../lab/netns.js";
import type { AttributedPolicyEvent } from "../../appliance/policy/policy-event.js";
import { PolicyLog } from "../../appliance/egress-policy/policy-log.js";
import { Supervisor } from "../../appliance/system/supervisor.js";
import { hostCommandsAndFiles } from "../../appliance/system/system.js";
import { until } from "../helpers/until.js";

const isRoot = process.getuid?.() === 0;
const LOCAL = "10.77.0.1";
const STRANGER = "10.77.0.3";
const PEER = "10.77.0.2";
/** Logged at most 100/s (burst 5) and dropped, as the data plane's deny; port 10 is logged always, never dropped. */
const DENIED_PORT = 9;
const MARKER_PORT = 10;
/** Not the default 7: the group must come from the settings. */
const GROUP = 4_000 + Math.floor(Math.random() * 1_000);

/** Sends `count` UDP packets to PEER:port from one socket bound to `from`; returns its source port. */
async function sendUdp(ns: Netns, from: string, port: number, count: number): Promise<number> {
  const { stdout } = await ns.exec(process.execPath, ["-e", `
    const s = require("dgram").createSocket("udp4");
    s.bind(0, "${from}", () => {
      let pending = ${count};
      // A dropped packet fails its send (EPERM): it still went through the output hook, and its log statement.
      for (let i = 0; i < ${count}; i++) s.send("x", ${port}, "${PEER}", () => { if (--pending === 0) { console.log(s.address().port); s.close(); } });
    });`]);
  return Number(stdout.trim());
}

function ruleset(table: string): object {
  const t = { family: "inet", table };
  const to = (port: number) => [
    { match: { op: "==", left: { payload: { protocol: "ip", field: "daddr" } }, right: PEER } },
    { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: port } },
  ];
  return {
    nftables: [
      { table: { family: "inet", name: table } },
      { chain: { ...t, name: "out", type: "filter", hook: "output", prio: 0, policy: "accept" } },
      { rule: { ...t, chain: "out", expr: [...to(DENIED_PORT), { limit: { rate: 100, per: "second" } }, { log: { group: GROUP, prefix: "egw-policy-deny" } }] } },
      { rule: { ...t, chain: "out", expr: [...to(DENIED_PORT), { drop: null }] } },
      { rule: { ...t, chain: "out", expr: [...to(MARKER_PORT), { log: { group: GROUP, prefix: "egw-policy-audit" } }] } },
    ],
  };
}

describe("policy log: real ulogd on an NFLOG group → attributed events", { skip: isRoot ? false : "needs root for network namespaces" }, () => {
  const suffix = uniqueSuffix();
  const workDir = mkdtempSync(join(tmpdir(), `egw-policy-log-${suffix}-`));
  let gateway: Netns | undefined;
  let peer: Netns | undefined;
  let policyLog: PolicyLog | undefined;
  const said: string[] = [];
  const events = () => policyLog?.recent.all() ?? [];
  const from = (sourcePort: number) => events().filter((e) => e.sourcePort === sourcePort);

  before(async () => {
    gateway = await Netns.create(`egwpl${suffix}g`);
    peer = await Netns.create(`egwpl${suffix}p`);
    await veth({ ns: gateway, name: "eth0", addresses: [`${LOCAL}/24`, `${STRANGER}/24`] }, { ns: peer, name: "eth0", addresses: [`${PEER}/24`] });
    const rulesPath = join(workDir, "rules.json");
    writeFileSync(rulesPath, JSON.stringify(ruleset(`egwpl${suffix}`)));
    await gateway.exec("nft", ["-j", "-f", rulesPath]);

    // The daemon runs in the gateway's namespace; here only ulogd is put there, by prefixing its command.
    const log = pino({ level: "info" }, { write: (line: string) => void said.push(line) });
    const inGateway = (gateway as Netns).name;
    policyLog = new PolicyLog({
      settings: { enabled: true, group: GROUP, ulogd: { command: "ulogd", pluginDirectory: "/usr/lib/x86_64-linux-gnu/ulogd" }, recent: { perCluster: 200, total: 1_000 } },
      files: hostCommandsAndFiles().files,
      directory: join(workDir, "policy-log"),
      generatedFor: "test",
      attribute: (source) => (source === LOCAL ? { cluster: "blue", mapping: "web" } : undefined),
      log,
      ulogd: (spec, ulogdLog) => new Supervisor({ ...spec, command: "ip", args: ["netns", "exec", inGateway, spec.command, ...spec.args] }, ulogdLog),
    });
    await policyLog.start();
    assert.equal(policyLog.status().state, "running", policyLog.status().error);
    // ulogd does not say when it has bound the group: probe until a logged packet comes back.
    const deadline = performance.now() + 10_000;
    while (!events().some((e) => e.destinationPort === MARKER_PORT)) {
      if (performance.now() > deadline) assert.fail(`ulogd never delivered a probe; the log said:\n${said.join("")}`);
      await sendUdp(gateway, LOCAL, MARKER_PORT, 1);
    }
  });

  after(async () => {
    await policyLog?.stop();
    await gateway?.destroy();
    await peer?.destroy();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("reads each denied packet as an event attributed to its cluster and mapping, with destination and port", async () => {
    assert.ok(gateway);
    const ports = [await sendUdp(gateway, LOCAL, DENIED_PORT, 1), await sendUdp(gateway, LOCAL, DENIED_PORT, 1), await sendUdp(gateway, LOCAL, DENIED_PORT, 1)];
    await until(() => ports.every((port) => from(port).length === 1), `the three denied packets as events (log: ${said.length} lines)`, 10_000);
    for (const port of ports) {
      const [event] = from(port) as [AttributedPolicyEvent];
      assert.deepEqual(
        [event.verdict, event.cluster, event.mapping, event.source, event.destination, event.protocol, event.destinationPort, event.family],
        ["denied", "blue", "web", LOCAL, PEER, "udp", DENIED_PORT, 4],
      );
    }
    assert.deepEqual(policyLog?.recent.ofCluster("blue").slice(0, 3).map((e) => e.sourcePort), [...ports].reverse(), "the cluster's view, newest first");
    const lines = said.filter((line) => line.includes('"event":"policy-denied"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const line = lines.find((l) => l.sourcePort === ports[0]);
    assert.deepEqual([line?.cluster, line?.mapping, line?.source, line?.destination, line?.protocol, line?.destinationPort], ["blue", "web", LOCAL, PEER, "udp", DENIED_PORT]);
    assert.equal(policyLog?.status().unparsed, 0);
  });

  it("keeps a packet from a source no mapping holds, as unattributed", async () => {
    assert.ok(gateway);
    const port = await sendUdp(gateway, STRANGER, DENIED_PORT, 1);
    await until(() => from(port).length === 1, "the stranger's packet as an event", 10_000);
    assert.deepEqual([from(port)[0]?.cluster, from(port)[0]?.mapping, from(port)[0]?.source], [null, null, STRANGER]);
    assert.ok(policyLog?.recent.unattributed().some((e) => e.sourcePort === port));
    assert.ok(!policyLog?.recent.ofCluster("blue").some((e) => e.sourcePort === port));
  });

  it("a burst far above the kernel's limit yields far fewer events than packets", async (t) => {
    assert.ok(gateway);
    const sent = 3_000;
    // Counted from the totals: the recent buffer keeps only the newest 200 of a cluster.
    const deniedBefore = policyLog?.status().events.denied ?? 0;
    const burst = await sendUdp(gateway, LOCAL, DENIED_PORT, sent);
    // NFLOG delivers a group's packets in order: once a marker sent after the burst is in, so is all of the burst.
    const marker = await sendUdp(gateway, LOCAL, MARKER_PORT, 1);
    await until(() => from(marker).length === 1, "the marker after the burst", 10_000);
    const logged = (policyLog?.status().events.denied ?? 0) - deniedBefore;
    assert.ok(from(burst).length > 0, "the burst's first packets were logged");
    t.diagnostic(`${logged} events for ${sent} packets`);
    assert.ok(logged < sent / 2, `${logged} events for ${sent} packets: the limit held`);
  });
});
