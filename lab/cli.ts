// `egw lab …`: the namespace lab from the command line. Loaded by bin/dispatch.ts only for `lab`.
import { readFileSync } from "node:fs";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../appliance/terminal/io.js";
import { printJson, table } from "../appliance/terminal/output.js";
import { callApi } from "./daemon.js";
import type { GatewayKey } from "./ha-topology.js";
import { runDemo } from "./lab-demo.js";
import { egwCommand, isSupervisor, LAB_DIR, LAB_PREFIX, readState, type LabState } from "./lab-state.js";
import { labRemains, stopLab, sweepSync } from "./lab-sweep.js";
import { runSupervisor } from "./lab-supervisor.js";
import { LabError, startLab } from "./lab-up.js";
import { Netns } from "./netns.js";
import type { PodName } from "./topology.js";
import { whoami } from "./whoami-client.js";

export const LAB_USAGE = `usage:
  egw lab up [--empty]            build the lab and keep it running in the background
  egw lab demo [--json] [--keep]  the whole story end to end, then tear down (unless --keep)
  egw lab status [--json]         the gateways' roles and revisions, what the server sees from each pod
  egw lab fail GATEWAY            kill a gateway hard (gw-a, gw-b, master or backup): processes, links
  egw lab restore GATEWAY         bring it back: links up, egw restarted (it rejoins as backup)
  egw lab down                    remove the lab: processes, namespaces (${LAB_PREFIX}-*), ${LAB_DIR}

  The lab builds two gateways running the real egw daemon with keepalived and conntrackd, a cluster node
  with three pods, and an external server that answers with the source address it sees, all in network
  namespaces on this machine. It needs root; nothing is attached to the host's interfaces.
  up registers the demo's configuration (egress IPs, cluster prod-eu1, mappings, routes) unless --empty.
  demo --json prints one JSON report on stdout (progress on stderr); the exit status is 0 only if every
  check held. See docs/lab.md.`;

const OPTIONS = {
  json: { type: "boolean", default: false },
  keep: { type: "boolean", default: false },
  empty: { type: "boolean", default: false },
} as const;

export async function labMain(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: [sub, ...rest] } = parseCommandArgs(args, { ...OPTIONS, help: { type: "boolean", short: "h" } }, LAB_USAGE);
  if (values.help || sub === "help") {
    io.stdout(`${LAB_USAGE}\n`);
    return 0;
  }
  if (sub === undefined) throw new UsageError("missing lab command", LAB_USAGE);
  if (process.getuid?.() !== 0) {
    io.stderr(`egw lab: must run as root: it creates network namespaces and runs the daemon, keepalived and conntrackd in them (try sudo)\n`);
    return 1;
  }
  try {
    switch (sub) {
      case "up":
        positionals(rest, [], LAB_USAGE);
        return await up(io, !values.empty);
      case "demo": {
        positionals(rest, [], LAB_USAGE);
        const say = (line: string) => (values.json ? io.stderr(`${line}\n`) : io.stdout(`${line}\n`));
        return await runDemo({ json: values.json, keep: values.keep, say, emit: io.stdout });
      }
      case "status":
        positionals(rest, [], LAB_USAGE);
        return await status(io, values.json);
      case "fail":
      case "restore": {
        const [gateway = ""] = positionals(rest, ["GATEWAY"], LAB_USAGE);
        return await failOrRestore(io, sub, gateway);
      }
      case "down":
        positionals(rest, [], LAB_USAGE);
        return await down(io);
      case "supervise":
        return await runSupervisor({ seed: !values.empty });
      default:
        throw new UsageError(`unknown lab command ${JSON.stringify(sub)}`, LAB_USAGE);
    }
  } catch (error) {
    if (!(error instanceof LabError)) throw error;
    io.stderr(`egw lab: ${error.message}\n${error.logTail ? `--- supervisor log (tail) ---\n${error.logTail}\n` : ""}`);
    return 1;
  }
}

async function up(io: CliIo, seed: boolean): Promise<number> {
  io.stdout(`starting the lab in the background (log: ${LAB_DIR}/supervisor.log)\n`);
  // Interrupted before the lab is ready (Ctrl+C: lab/netns.ts exits): remove the half-built lab.
  let settled = false;
  process.on("exit", () => {
    if (!settled) sweepSync();
  });
  try {
    await startLab({ seed, say: (line) => io.stdout(`  ${line}\n`) });
  } catch (error) {
    await stopLab();
    throw error;
  } finally {
    settled = true;
  }
  await status(io, false);
  const state = readState();
  if (state) io.stdout(hints(state));
  return 0;
}

function hints(state: LabState): string {
  const egw = egwCommand();
  const a = state.gateways.a;
  return `
try:
  export EGW_SOCKET=${a.socket} EGW_TOKEN_FILE=${state.adminTokenFile}
  ${egw} status                     # the CLI talks to gw-a's API (gw-b: ${state.gateways.b.socket})
  ${egw} clusters list; ${egw} mappings list prod-eu1
  ip netns exec ${a.namespace} ${egw} show nft --diff --config ${a.config}
  ip netns exec ${state.pods.a.namespace} bash -c 'exec 3<>/dev/tcp/${state.server.address}/${state.server.whoamiPort}; cat <&3'
  ${egw} lab fail master; ${egw} lab status; ${egw} lab restore gw-a
  ${egw} lab down
`;
}

interface GatewayStatus { name: string; namespace: string; role: string; revision: number | null; inSync: boolean | null; socket: string }
interface PodStatus { pod: PodName; namespace: string; address: string; observedSourceIp: string }

async function status(io: CliIo, json: boolean): Promise<number> {
  const state = readState();
  const remains = labRemains();
  if (!state) {
    const leftovers = remains.namespaces.length > 0 ? ` (but namespaces ${remains.namespaces.join(", ")} are left over: run egw lab down)` : "";
    if (json) printJson(io, { running: false, leftovers: remains.namespaces });
    else io.stdout(`no lab is running${leftovers}\n`);
    return 3;
  }
  const running = isSupervisor(state.supervisorPid);
  let token = "";
  try {
    token = readFileSync(state.adminTokenFile, "utf8").trim();
  } catch {
    // gateways then show as unreachable
  }
  const gateways: GatewayStatus[] = [];
  for (const key of ["a", "b"] as GatewayKey[]) {
    const g = state.gateways[key];
    const response = running ? await callApi(g.socket, "GET", "/v1/status", token).catch(() => undefined) : undefined;
    const body = response?.status === 200 ? (response.body as { role: string; revision: number; inSync: boolean }) : undefined;
    const role = state.failed.includes(key) ? "down (failed)" : body?.role ?? "down";
    gateways.push({ name: g.name, namespace: g.namespace, role, revision: body?.revision ?? null, inSync: body?.inSync ?? null, socket: g.socket });
  }
  const pods: PodStatus[] = [];
  if (running && state.phase === "ready") {
    await Promise.all((Object.keys(state.pods) as PodName[]).map(async (key) => {
      const p = state.pods[key];
      const result = await whoami(new Netns(p.namespace), state.server.address, state.server.whoamiPort, 1_500);
      pods.push({ pod: key, namespace: p.namespace, address: p.address, observedSourceIp: result.ok ? result.seenAs : `no answer (${result.error})` });
    }));
    pods.sort((x, y) => x.pod.localeCompare(y.pod));
  }
  if (json) {
    printJson(io, { running, phase: state.phase, supervisorPid: state.supervisorPid, startedAt: state.startedAt, gateways, pods, state });
    return running ? 0 : 1;
  }
  const head = running
    ? `lab ${state.phase === "ready" ? "up" : state.phase} since ${state.startedAt} (supervisor pid ${state.supervisorPid}, log ${state.supervisorLog})`
    : `the lab's supervisor (pid ${state.supervisorPid}) is not running: run egw lab down to remove what is left`;
  io.stdout(`${head}\n\n`);
  io.stdout(table(["GATEWAY", "NAMESPACE", "ROLE", "REVISION", "API SOCKET"],
    gateways.map((g) => [g.name, g.namespace, g.role, g.revision === null ? "-" : `${g.revision}${g.inSync ? " (applied)" : " (NOT applied)"}`, g.socket])));
  if (pods.length > 0) {
    io.stdout(`\n${table(["POD", "NAMESPACE", "ADDRESS", "SERVER SEES"], pods.map((p) => [p.pod, p.namespace, p.address, p.observedSourceIp]))}`);
  }
  io.stdout(`\nserver ${state.server.namespace} ${state.server.address} (:${state.server.whoamiPort} answers with your source address, :${state.server.echoPort} echoes); ` +
    `inside VIP ${state.vip}; admin token ${state.adminTokenFile}\n`);
  return running ? 0 : 1;
}

async function failOrRestore(io: CliIo, action: "fail" | "restore", gateway: string): Promise<number> {
  const state = readState();
  if (!state || !isSupervisor(state.supervisorPid) || state.phase !== "ready") throw new LabError("no lab is up: start one with egw lab up");
  let key: GatewayKey | undefined;
  if (gateway === "master" || gateway === "backup") {
    const token = readFileSync(state.adminTokenFile, "utf8").trim();
    for (const k of ["a", "b"] as GatewayKey[]) {
      const response = await callApi(state.gateways[k].socket, "GET", "/v1/status", token).catch(() => undefined);
      if (response?.status === 200 && (response.body as { role: string }).role === gateway) key = k;
    }
    if (!key) throw new LabError(`no gateway is ${gateway} right now`);
  } else {
    key = (["a", "b"] as GatewayKey[]).find((k) => gateway === k || gateway === state.gateways[k].name);
    if (!key) throw new UsageError(`unknown gateway ${JSON.stringify(gateway)}: gw-a, gw-b, master or backup`, LAB_USAGE);
  }
  const response = await callApi(state.controlSocket, "POST", `/gateways/${key}/${action}`, undefined);
  if (response.status !== 200) throw new LabError(`${action} ${state.gateways[key].name}: ${(response.body as { detail?: string }).detail ?? response.status}`);
  io.stdout(action === "fail"
    ? `${state.gateways[key].name} failed hard (processes killed, links down); the other gateway takes over within about a second\n`
    : `${state.gateways[key].name} is back (links up, egw restarted); it rejoins as backup\n`);
  return 0;
}

async function down(io: CliIo): Promise<number> {
  const before = readState();
  const remains = labRemains();
  if (!before && !remains.state && remains.namespaces.length === 0) {
    io.stdout("no lab to remove\n");
    return 0;
  }
  const report = await stopLab();
  const after = labRemains();
  const left = [...after.namespaces, ...(after.state ? [LAB_DIR] : [])];
  io.stdout(`lab removed: ${before ? `supervisor ${before.supervisorPid} stopped, ` : ""}namespaces ${[...new Set([...(before?.namespaces ?? []), ...report.namespaces])].join(", ") || "none"} deleted, ${LAB_DIR} removed\n`);
  if (left.length > 0) {
    io.stderr(`egw lab down: still present: ${left.join(", ")}\n`);
    return 1;
  }
  return 0;
}
