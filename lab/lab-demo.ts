// `egw lab demo`: the whole product in one story, on the namespace lab. Starts the lab, registers the
// configuration through the REST API (printing every call), checks what the external server sees from each
// pod, kills the VRRP master hard while a TCP stream is open and a prober opens new connections, shows the
// takeover, brings the old master back, and ends with a summary (or one JSON report with --json).
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { callApi, type ApiResponse } from "./daemon.js";
import { openStream, startProber, waitFor, type ProbeReport, type StreamReport } from "./ha-group.js";
import type { GatewayKey } from "./ha-topology.js";
import { isSupervisor, readState, type LabState } from "./lab-state.js";
import { CLUSTER, MAPPED_PODS, registerAsAdmin, registerAsCluster, UNMAPPED_POD, type Api } from "./lab-story.js";
import { labRemains, stopLab, sweepSync } from "./lab-sweep.js";
import { LabError, startLab } from "./lab-up.js";
import { Netns } from "./netns.js";
import type { PodName } from "./topology.js";
import { seenTuple } from "./tuple-client.js";
import { whoami } from "./whoami-client.js";

export interface Check { name: string; ok: boolean; detail: string }

export interface DemoReport {
  ok: boolean;
  pods: { pod: PodName; namespace: string; address: string; expectedEgressIp: string; observedSourceIp: string }[];
  unmapped: { pod: PodName; address: string; expected: string; observed: string } | null;
  failover: {
    failedGateway: string;
    newMaster: string | null;
    takeoverMs: number | null;
    outageMs: number | null;
    probes: ProbeReport | null;
    tcpStreamSurvived: boolean;
    stream: StreamReport | null;
    observedAfter: { pod: PodName; expectedEgressIp: string; observedSourceIp: string }[];
  } | null;
  recovery: { gateway: string; role: string; master: string | null; caughtUp: boolean } | null;
  /** A firewall's log line traced back to its pod through the translation log, before and after the failover. */
  trace: { seen: string; answeredBy: string; pod: string; cluster: string; mapping: string } | null;
  streamTraceAfterFailover: { seen: string; answeredBy: string; pod: string } | null;
  checks: Check[];
  lab: { namespaces: string[]; kept: boolean };
  durationMs: number;
  error?: string;
}

export interface DemoOptions {
  json: boolean;
  keep: boolean;
  /** Human output (stdout, or stderr with --json). */
  say: (line: string) => void;
  /** The JSON report (stdout). */
  emit: (text: string) => void;
}

const OUTAGE_LIMIT_MS = 5_000;
const other = (key: GatewayKey): GatewayKey => (key === "a" ? "b" : "a");

export async function runDemo(options: DemoOptions): Promise<number> {
  const started = Date.now();
  const { say } = options;
  const bold = (text: string) => (!options.json && process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
  let stepNumber = 0;
  const step = (title: string) => say(`\n${bold(`== ${++stepNumber}. ${title}`)}`);
  const report: DemoReport = {
    ok: false, pods: [], unmapped: null, failover: null, recovery: null, trace: null, streamTraceAfterFailover: null, checks: [],
    lab: { namespaces: [], kept: options.keep }, durationMs: 0,
  };
  const check = (name: string, ok: boolean, detail: string) => {
    report.checks.push({ name, ok, detail });
    say(`   ${ok ? "✓" : "✗"} ${name}: ${detail}`);
  };

  const existing = readState();
  if (existing && isSupervisor(existing.supervisorPid)) {
    report.error = `a lab is already up (since ${existing.startedAt}, supervisor pid ${existing.supervisorPid}): run \`egw lab down\` first`;
    say(`egw lab demo: ${report.error}`);
    if (options.json) options.emit(`${JSON.stringify(report, null, 2)}\n`);
    return 1;
  }

  // Interrupted (Ctrl+C or SIGTERM: lab/netns.ts then exits) or crashed: remove the lab, and still report.
  let finished = false;
  let labStarted = false;
  process.on("exit", () => {
    if (finished) return;
    if (labStarted) sweepSync();
    if (options.json) options.emit(`${JSON.stringify({ ...report, ok: false, error: report.error ?? "interrupted", durationMs: Date.now() - started })}\n`);
  });

  let state: LabState | undefined;
  try {
    step("Build the lab: two gateways (egw + keepalived + conntrackd), a node with pods, an external server");
    say("   everything in network namespaces on this machine; nothing touches the host's interfaces");
    labStarted = true;
    state = await startLab({ seed: false, say: (line) => say(`   ${line}`) });
    report.lab.namespaces = state.namespaces;
    const lab = state;
    const token = readFileSync(lab.adminTokenFile, "utf8").trim();
    const apiOf = (key: GatewayKey): Api => (method, path, body, bearer = token) => callApi(lab.gateways[key].socket, method, path, bearer, body);
    const roleOf = async (key: GatewayKey) => {
      const response = await apiOf(key)("GET", "/v1/status").catch(() => undefined);
      return response?.status === 200 ? (response.body as { role: string }).role : "down";
    };
    const pod = (key: PodName) => new Netns(lab.pods[key].namespace);
    const seenFrom = async (key: PodName, timeoutMs = 3_000) => {
      const result = await whoami(pod(key), lab.server.address, lab.server.whoamiPort, timeoutMs);
      return result.ok ? result.seenAs : `no answer (${result.error})`;
    };
    const master: GatewayKey = (await roleOf("a")) === "master" ? "a" : "b";
    const backup = other(master);
    const gw = (key: GatewayKey) => lab.gateways[key].name;
    say(`   ${gw(master)} is VRRP master and holds the inside VIP ${lab.vip}; ${gw(backup)} is backup`);
    say(`   the node (${lab.node.address}) routes pod traffic to ${lab.vip}; the server is ${lab.server.address}`);

    step(`Network team (admin token, API of ${gw(master)} on unix:${lab.gateways[master].socket}): two egress IPs, a cluster, a token`);
    const { clusterToken } = await registerAsAdmin(apiOf(master), say);

    step(`Cluster automation (its own token): a mapping per application, and the route back to the pods`);
    await registerAsCluster(apiOf(master), say, clusterToken);
    say(`   every write is replicated to ${gw(backup)} before it is acknowledged; ?wait=true answers once the data plane applied it`);

    step("Each pod connects to the external server, which answers with the source address it saw");
    for (const p of MAPPED_PODS) {
      const observed = await seenFrom(p.pod);
      report.pods.push({ pod: p.pod, namespace: p.namespace, address: p.address, expectedEgressIp: p.egressIp, observedSourceIp: observed });
      check(`pod ${p.pod} (${p.namespace}, ${p.address})`, observed === p.egressIp, `server saw ${observed}, expected ${p.egressIp}`);
    }
    const unmapped = await seenFrom(UNMAPPED_POD.pod, 1_500);
    const dropped = unmapped.startsWith("no answer");
    report.unmapped = { pod: UNMAPPED_POD.pod, address: UNMAPPED_POD.address, expected: "dropped", observed: dropped ? "dropped" : unmapped };
    check(`pod ${UNMAPPED_POD.pod} (${UNMAPPED_POD.namespace}, ${UNMAPPED_POD.address}, no mapping)`, dropped,
      dropped ? "dropped at the gateway: unmapped traffic never leaves with a pod address" : `server saw ${unmapped}`);

    type Traced = { gateway: string; cluster: string; mapping: string; pod: { address: string; port: number } };
    const lookup = async (key: GatewayKey, address: string, port: number): Promise<Traced | undefined> => {
      const response = await apiOf(key)("GET", `/v1/translations?egressIp=${address}&egressPort=${port}&at=${new Date().toISOString()}&protocol=tcp`);
      return response.status === 200 ? (response.body as { translations: Traced[] }).translations[0] : undefined;
    };
    const traceUntilFound = async (key: GatewayKey, address: string, port: number): Promise<Traced | undefined> => {
      let found: Traced | undefined;
      await waitFor(async () => (found = await lookup(key, address, port)) !== undefined, 10_000, "the translation log to answer").catch(() => undefined);
      return found;
    };

    step("A firewall's question: \"who was 203.0.113.10:PORT?\" — the translation log answers with the pod");
    const tuple = await seenTuple(pod("a"), "tcp", lab.server.address);
    say(`   the server logged a connection from ${tuple.seenAddress}:${tuple.seenPort}; the network team asks ${gw(master)}:`);
    say(`   $ egw trace ${tuple.seenAddress}:${tuple.seenPort} --at ${new Date().toISOString()}   (GET /v1/translations?egressIp=…&egressPort=…&at=…)`);
    const traced = await traceUntilFound(master, tuple.seenAddress, tuple.seenPort);
    if (traced) {
      report.trace = { seen: `${tuple.seenAddress}:${tuple.seenPort}`, answeredBy: traced.gateway, pod: `${traced.pod.address}:${traced.pod.port}`, cluster: traced.cluster, mapping: traced.mapping };
    }
    check("the translation log names the pod", traced?.pod.address === tuple.podAddress && traced.pod.port === tuple.podPort && traced.cluster === CLUSTER && traced.mapping === MAPPED_PODS[0]?.mapping,
      traced ? `cluster ${traced.cluster}, mapping ${traced.mapping}, pod ${traced.pod.address}:${traced.pod.port} (it was ${tuple.podAddress}:${tuple.podPort}), logged by ${traced.gateway}` : "no record found");

    step(`Open a long-running TCP stream (pod a → ${lab.server.address}:${lab.server.echoPort}) and probe new connections every 20 ms (pod b)`);
    const stream = await openStream(pod("a"), lab.server.address);
    // The stream as the server sees it (egress IP and port), for a lookup after the failover.
    const established = String((await new Netns(lab.server.namespace).exec("ss", ["-Htn", "state", "established", `( sport = :${lab.server.echoPort} )`], { reject: false })).stdout).trim();
    const peer = /\[?(?:::ffff:)?([\d.]+)\]?:(\d+)\s*$/.exec(established.split("\n")[0] ?? "");
    const prober = await startProber(pod("b"), lab.server.address);
    await sleep(700);
    say("   stream open, probes answered");

    step(`Kill the master ${gw(master)} hard: every process in ${lab.gateways[master].namespace} (egw, keepalived, conntrackd) SIGKILLed, links down`);
    const failed = await callApi(lab.controlSocket, "POST", `/gateways/${master}/fail`, undefined);
    if (failed.status !== 200) throw new Error(`failing ${gw(master)}: ${JSON.stringify(failed.body)}`);
    const failedAt = Date.parse((failed.body as { failedAt: string }).failedAt);
    let takeoverMs: number | null = null;
    try {
      await waitFor(async () => (await roleOf(backup)) === "master", 10_000, `${gw(backup)} to become master`);
      takeoverMs = Date.now() - failedAt;
    } catch {
      takeoverMs = null;
    }
    check(`${gw(backup)} takes over`, takeoverMs !== null, takeoverMs !== null ? `master ${takeoverMs} ms after ${gw(master)} died (seen through its API)` : "no new master within 10 s");
    const held = await new Netns(lab.gateways[backup].namespace).exec("ip", ["-br", "-4", "address", "show", "dev", "outside"], { reject: false });
    say(`   ${gw(backup)} now holds, on its outside interface: ${String(held.stdout).trim().split(/\s+/).slice(2).join(" ")}`);
    await sleep(1_500);
    const probes = await prober.finish();
    const flow = await stream.finish();
    const outageMs = Math.max(probes.outageMs, probes.openGapMs ?? 0);
    const survived = flow.error === null && flow.received > 0 && flow.received >= flow.sent - 5;
    check("outage seen by new connections", outageMs < OUTAGE_LIMIT_MS,
      `${outageMs} ms without an answer (${probes.answered}/${probes.attempts} probes answered; limit ${OUTAGE_LIMIT_MS} ms)`);
    check("probes kept their egress IP", Object.keys(probes.seen).every((ip) => ip === MAPPED_PODS[1]?.egressIp),
      `the server saw ${Object.entries(probes.seen).map(([ip, n]) => `${ip} ×${n}`).join(", ") || "nothing"}`);
    check("the established TCP stream survived", survived,
      `${flow.received}/${flow.sent} echoes, longest gap ${flow.maxGapMs} ms${flow.error ? `, error ${flow.error}` : ""} (conntrackd had the connection on ${gw(backup)})`);
    const observedAfter: NonNullable<DemoReport["failover"]>["observedAfter"] = [];
    for (const p of MAPPED_PODS) {
      const observed = await seenFrom(p.pod);
      observedAfter.push({ pod: p.pod, expectedEgressIp: p.egressIp, observedSourceIp: observed });
      check(`pod ${p.pod} after the failover`, observed === p.egressIp, `server saw ${observed}, expected ${p.egressIp}`);
    }
    // The stream moved to the new master with conntrackd's state; its log recorded it from then on.
    if (peer) {
      const streamTraced = await traceUntilFound(backup, peer[1] as string, Number(peer[2]));
      if (streamTraced) report.streamTraceAfterFailover = { seen: `${peer[1]}:${peer[2]}`, answeredBy: streamTraced.gateway, pod: `${streamTraced.pod.address}:${streamTraced.pod.port}` };
      check(`${gw(backup)} answers for the stream it took over`, streamTraced?.pod.address === MAPPED_PODS[0]?.address,
        streamTraced ? `${peer[1]}:${peer[2]} was pod ${streamTraced.pod.address}:${streamTraced.pod.port} (from ${streamTraced.gateway}'s log; ${gw(master)} is dead)` : `no record of ${peer[1]}:${peer[2]}`);
    } else {
      check(`${gw(backup)} answers for the stream it took over`, false, `the server shows no established stream: ${JSON.stringify(established)}`);
    }
    report.failover = {
      failedGateway: gw(master), newMaster: takeoverMs !== null ? gw(backup) : null, takeoverMs, outageMs, probes,
      tcpStreamSurvived: survived, stream: flow, observedAfter,
    };

    step(`Bring ${gw(master)} back: links up, egw restarted; it rejoins as backup without taking the VIPs back`);
    const restored = await callApi(lab.controlSocket, "POST", `/gateways/${master}/restore`, undefined);
    if (restored.status !== 200) throw new Error(`restoring ${gw(master)}: ${JSON.stringify(restored.body)}`);
    let rejoined = true;
    await waitFor(async () => (await roleOf(master)) === "backup", 15_000, `${gw(master)} to become backup`).catch(() => (rejoined = false));
    const mappingsOf = async (key: GatewayKey) => JSON.stringify(((await apiOf(key)("GET", `/v1/clusters/${CLUSTER}/mappings`)) as ApiResponse).body);
    let caughtUp = true;
    await waitFor(async () => (await mappingsOf(master)) === (await mappingsOf(backup)), 10_000, "the same mappings").catch(() => (caughtUp = false));
    const roleNow = await roleOf(master);
    const masterNow = (await roleOf(backup)) === "master" ? gw(backup) : null;
    check(`${gw(master)} rejoined as backup`, rejoined, `role ${roleNow}`);
    check(`${gw(backup)} stays master (no flap back)`, masterNow === gw(backup), `master is ${masterNow ?? "nobody"}`);
    check(`${gw(master)} has the same configuration`, caughtUp, caughtUp ? "its mappings equal the master's (replicated)" : "its mappings differ from the master's");
    report.recovery = { gateway: gw(master), role: roleNow, master: masterNow, caughtUp };
  } catch (error) {
    report.error = error instanceof LabError && error.logTail ? `${error.message}\n${error.logTail}` : error instanceof Error ? error.message : String(error);
    say(`\ndemo failed: ${report.error}`);
    check("the demo ran to the end", false, error instanceof Error ? error.message : String(error));
  }

  if (options.keep && state) {
    step("Keep the lab (--keep)");
    say("   `egw lab status` shows it, `egw lab fail|restore` plays with it, `egw lab down` removes it");
  } else if (labStarted) {
    step("Tear the lab down");
    await stopLab();
    const remains = labRemains();
    const clean = !remains.state && remains.namespaces.length === 0;
    check("nothing left behind", clean, clean
      ? "every lab process stopped, every lab namespace and its state directory removed"
      : `still there: ${[...remains.namespaces, ...(remains.state ? ["/run/egw-lab"] : [])].join(", ")}`);
  }

  report.ok = report.checks.length > 0 && report.checks.every((c) => c.ok) && report.error === undefined;
  const passed = report.checks.filter((c) => c.ok).length;
  step(report.ok ? `Summary: every check held (${passed}/${report.checks.length})` : `Summary: ${report.checks.length - passed} of ${report.checks.length} checks FAILED`);
  if (report.pods.length > 0) {
    say(`   egress IPs: ${report.pods.map((p) => `pod ${p.pod} (${p.namespace}) left as ${p.observedSourceIp}`).join(", ")}`);
  }
  if (report.failover) {
    const f = report.failover;
    say(`   failover: ${f.failedGateway} killed, ${f.newMaster ?? "nobody"} master after ${f.takeoverMs ?? "?"} ms; new connections waited at most ${f.outageMs} ms; ` +
      `the TCP stream ${f.tcpStreamSurvived ? "survived" : "BROKE"}; new connections ` +
      `${f.observedAfter.every((o) => o.observedSourceIp === o.expectedEgressIp) ? "kept" : "did NOT keep"} their egress IPs`);
  }
  if (report.trace) say(`   translation log: ${report.trace.seen} was pod ${report.trace.pod} (${report.trace.cluster}/${report.trace.mapping})${report.streamTraceAfterFailover ? `; after the failover ${report.streamTraceAfterFailover.answeredBy} still answers for the stream` : ""}`);
  if (report.recovery) say(`   ${report.recovery.gateway} came back as ${report.recovery.role}; ${report.recovery.master ?? "nobody"} stayed master`);
  for (const c of report.checks.filter((c) => !c.ok)) say(`   ✗ ${c.name}: ${c.detail}`);
  report.durationMs = Date.now() - started;
  say(`   ${(report.durationMs / 1000).toFixed(1)} s`);
  finished = true;
  if (options.json) options.emit(`${JSON.stringify(report, null, 2)}\n`);
  return report.ok ? 0 : 1;
}
