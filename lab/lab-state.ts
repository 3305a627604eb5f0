// Where a running lab keeps its state, so that `egw lab status` and `egw lab down` (other processes) find it.
//
// Everything of one lab lives under LAB_DIR (state file, supervisor log, each gateway's config, database,
// socket and logs) and in network namespaces whose names start with LAB_PREFIX: removing both removes the lab,
// also after a crash.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GatewayKey } from "./ha-topology.js";
import type { PodName } from "./topology.js";

export const LAB_DIR = "/run/egw-lab";
export const LAB_PREFIX = "egwlab";
export const STATE_FILE = join(LAB_DIR, "state.json");
export const SUPERVISOR_LOG = join(LAB_DIR, "supervisor.log");
export const CONTROL_SOCKET = join(LAB_DIR, "control.sock");

export interface LabGatewayState {
  name: string;
  namespace: string;
  dir: string;
  config: string;
  socket: string;
  log: string;
  insideAddress: string;
  outsideAddress: string;
}

export interface LabState {
  version: 1;
  phase: "starting" | "ready" | "failed";
  error?: string;
  supervisorPid: number;
  startedAt: string;
  /** Whether the lab was given the demo's egress IPs, cluster, mappings and routes at start. */
  seeded: boolean;
  controlSocket: string;
  supervisorLog: string;
  /** The admin token (both gateways share it). */
  adminTokenFile: string;
  namespaces: string[];
  gateways: Record<GatewayKey, LabGatewayState>;
  /** Gateways whose failure was simulated (`egw lab fail`) and not yet restored. */
  failed: GatewayKey[];
  vip: string;
  server: { namespace: string; address: string; whoamiPort: number; echoPort: number };
  node: { namespace: string; address: string };
  pods: Record<PodName, { namespace: string; address: string; cidr: string }>;
}

export function readState(): LabState | undefined {
  try {
    return JSON.parse(readFileSync(STATE_FILE, "utf8")) as LabState;
  } catch {
    return undefined;
  }
}

/** Written whole and renamed into place: a reader never sees half a file. */
export function writeState(state: LabState): void {
  mkdirSync(LAB_DIR, { recursive: true, mode: 0o700 });
  const temporary = `${STATE_FILE}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, STATE_FILE);
}

/** Whether `pid` is alive and is a lab supervisor (not a recycled pid). */
export function isSupervisor(pid: number | undefined): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return cmdline.includes("lab") && cmdline.includes("supervise");
  } catch {
    return false;
  }
}

/** `egw …` as the user invoked it, for the hints the lab prints. */
export function egwCommand(): string {
  const script = process.argv[1] ?? "";
  if (/\/bin\/egw(\.js)?$/.test(script) && !script.includes("/dist/")) return "egw";
  const relative = script.startsWith(`${process.cwd()}/`) ? script.slice(process.cwd().length + 1) : script;
  return `node ${relative}`;
}
