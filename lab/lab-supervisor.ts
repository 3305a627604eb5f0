// The lab's long-lived supervisor: `egw lab up` starts it in the background (detached, its output in
// SUPERVISOR_LOG). It builds the two-gateway topology, runs both daemons (each supervising its keepalived
// and conntrackd) and the external server, writes the state file, and then serves a small control API on a
// unix socket, through which `egw lab fail|restore` and the demo kill and revive a gateway. SIGTERM (from
// `egw lab down`) stops every process and deletes every namespace (lab/netns.ts does that on any exit).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { startHaGroup, type HaGroup } from "./ha-group.js";
import { buildHaTopology, HA_ADDR, type GatewayKey, type HaTopology } from "./ha-topology.js";
import { CONTROL_SOCKET, LAB_DIR, LAB_PREFIX, SUPERVISOR_LOG, writeState, type LabGatewayState, type LabState } from "./lab-state.js";
import { registerAsAdmin, registerAsCluster } from "./lab-story.js";
import { cleanupAll } from "./netns.js";
import { ADDR, type PodName } from "./topology.js";
import { startWhoamiServer } from "./whoami-client.js";

const log = (line: string) => process.stdout.write(`${line}\n`);

function initialState(seed: boolean): LabState {
  const gateway = (key: GatewayKey): LabGatewayState => {
    const g = HA_ADDR.gateways[key];
    const dir = join(LAB_DIR, g.name);
    return {
      name: g.name, namespace: `${LAB_PREFIX}-gw${key}`, dir, config: join(dir, "egw.json"), socket: join(dir, "api.sock"),
      log: join(dir, "egw.log"), insideAddress: g.inside4, outsideAddress: g.outside4,
    };
  };
  const pod = (key: PodName) => ({ namespace: `${LAB_PREFIX}-pod${key}`, address: ADDR.pods[key].v4, cidr: ADDR.pods[key].cidr4 });
  const gateways = { a: gateway("a"), b: gateway("b") };
  return {
    version: 1, phase: "starting", supervisorPid: process.pid, startedAt: new Date().toISOString(), seeded: seed,
    controlSocket: CONTROL_SOCKET, supervisorLog: SUPERVISOR_LOG, adminTokenFile: join(gateways.a.dir, "admin-token"),
    namespaces: [], gateways, failed: [], vip: HA_ADDR.vip.v4,
    server: { namespace: `${LAB_PREFIX}-server`, address: ADDR.server.v4, whoamiPort: 8080, echoPort: 8081 },
    node: { namespace: `${LAB_PREFIX}-node`, address: ADDR.node.v4 },
    pods: { a: pod("a"), b: pod("b"), c: pod("c") },
  };
}

/** Builds the lab and keeps it running until SIGTERM. Returns only on failure. */
export async function runSupervisor(options: { seed: boolean }): Promise<number> {
  process.on("unhandledRejection", (reason) => log(`unhandled rejection: ${String(reason)}`));
  const state = initialState(options.seed);
  writeState(state);
  try {
    log(`building the topology: namespaces ${LAB_PREFIX}-{sw,gwa,gwb,node,server,poda,podb,podc}, bridges for the inside and outside LANs, a sync link`);
    const topo = await buildHaTopology({ prefix: LAB_PREFIX });
    state.namespaces = topo.namespaces.map((ns) => ns.name);
    writeState(state);
    log(`starting the external server in ${state.server.namespace} (${ADDR.server.v4}: :8080 answers with the source address it sees, :8081 echoes, :8083 answers with the source address and port)`);
    await startWhoamiServer(topo.server, { stream: true });
    log("starting gw-a, then gw-b: the real egw daemon, each running its own keepalived, conntrackd and ulogd (the translation log)");
    const group = await startHaGroup(topo, {
      daemon: (key) => ({ dir: state.gateways[key].dir, logFile: state.gateways[key].log, logLevel: "info", translationLog: { enabled: true } }),
      certificates: join(dirname(state.gateways.a.dir), "peer-certificates"),
    });
    log("gw-a is VRRP master, gw-b is backup");
    if (options.seed) {
      log("registering the demo configuration (egress IPs, cluster prod-eu1, mappings, routes)");
      const api = group.daemons.a.api;
      const { clusterToken } = await registerAsAdmin(api, log);
      await registerAsCluster(api, log, clusterToken);
    }
    await serveControl(topo, group, state);
    state.phase = "ready";
    writeState(state);
    log("lab ready");
  } catch (error) {
    state.phase = "failed";
    state.error = error instanceof Error ? error.message : String(error);
    writeState(state);
    log(`lab failed to start: ${state.error}`);
    await cleanupAll();
    return 1;
  }
  // Runs until SIGTERM: the control server keeps the process alive, lab/netns.ts tears everything down.
  return await new Promise<number>(() => undefined);
}

/** The control API: GET /state, POST /gateways/{a|b}/fail, POST /gateways/{a|b}/restore. One request at a time. */
async function serveControl(topo: HaTopology, group: HaGroup, state: LabState): Promise<void> {
  let queue: Promise<unknown> = Promise.resolve();
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const match = /^\/gateways\/(a|b)\/(fail|restore)$/.exec(req.url ?? "");
    if (req.method === "GET" && req.url === "/state") return reply(res, 200, state);
    if (req.method !== "POST" || !match) return reply(res, 404, { detail: `no route for ${req.method} ${req.url}` });
    const key = match[1] as GatewayKey;
    const name = HA_ADDR.gateways[key].name;
    const failed = state.failed.includes(key);
    if (match[2] === "fail") {
      if (failed) return reply(res, 409, { detail: `${name} has already failed; restore it first` });
      // What a dead VM looks like: every process of the gateway killed at once, its links down.
      const at = Date.now();
      topo.gateways[key].killAll();
      await topo.cutGateway(key);
      state.failed.push(key);
      writeState(state);
      log(`${name} failed: every process in ${state.gateways[key].namespace} killed, its links down`);
      return reply(res, 200, { gateway: name, failedAt: new Date(at).toISOString() });
    }
    if (!failed) return reply(res, 409, { detail: `${name} has not failed` });
    await topo.restoreGateway(key);
    await group.daemons[key].start();
    state.failed = state.failed.filter((k) => k !== key);
    writeState(state);
    log(`${name} restored: links up, egw restarted (it rejoins as backup)`);
    return reply(res, 200, { gateway: name, restoredAt: new Date().toISOString() });
  };
  const server = createServer((req, res) => {
    req.resume();
    queue = queue.then(() => handle(req, res)).catch((error: unknown) => reply(res, 500, { detail: error instanceof Error ? error.message : String(error) }));
  });
  rmSync(CONTROL_SOCKET, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(CONTROL_SOCKET, () => resolve());
  });
}
