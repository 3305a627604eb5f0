import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { newSecret, startDaemon, type DaemonHandle, type DaemonOptions } from "./daemon.js";
import { HA_ADDR, type GatewayKey, type HaTopology } from "./ha-topology.js";
import type { Netns } from "./netns.js";
import { createPeerCertificate } from "../appliance/tls/peer-cert.js";
import { hostCommandsAndFiles } from "../appliance/system/system.js";

export const PEER_PORT = 7443;
const STREAM_CLIENT = fileURLToPath(new URL("./stream-client.js", import.meta.url));
const PROBER = fileURLToPath(new URL("./prober.js", import.meta.url));

export interface HaGroup {
  daemons: Record<GatewayKey, DaemonHandle>;
  adminToken: string;
  /** Where each gateway's replication certificate and key (NAME.crt, NAME.key) live. */
  certificates: string;
  /** The role a gateway reports in /v1/status ("master", "backup", …), or "down". */
  role(key: GatewayKey): Promise<string>;
  waitForRole(key: GatewayKey, role: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Config of one gateway of the lab's pair: VRRP, conntrackd and replication (mutual TLS) over the sync link. */
function haSection(key: GatewayKey, certificates: string) {
  const self = HA_ADDR.gateways[key];
  const other = HA_ADDR.gateways[key === "a" ? "b" : "a"];
  return {
    insideVips: [`${HA_ADDR.vip.v4}/24`, `${HA_ADDR.vip.v6}/64`],
    priority: key === "a" ? 150 : 100,
    advertIntervalMs: 200,
    syncLink: { interface: "sync", address: self.sync },
    peer: { name: other.name, address: other.sync },
    ports: { replication: PEER_PORT },
    tls: {
      cert: join(certificates, `${self.name}.crt`),
      key: join(certificates, `${self.name}.key`),
      peerCertificates: join(certificates, `${other.name}.crt`),
    },
    replicationTimeoutMs: 1_500,
  };
}

/** Each gateway's replication certificate, made the way an operator makes them (`egw peer-cert`), unless present. */
async function ensureGroupCertificates(directory: string): Promise<void> {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const machine = hostCommandsAndFiles();
  for (const gateway of Object.values(HA_ADDR.gateways)) {
    if (!existsSync(join(directory, `${gateway.name}.key`))) await createPeerCertificate(machine, gateway.name, directory);
  }
}

/** Per-gateway daemon options the lab sets (directories, log files); tests use the defaults. */
export interface HaGroupOptions {
  daemon?: (key: GatewayKey) => Pick<DaemonOptions, "dir" | "logFile" | "logLevel" | "translationLog" | "listen" | "readyTimeoutMs">;
  /** Where each gateway's NAME.crt and NAME.key live (created when missing, kept); default: a directory of this group's, removed by stop(). */
  certificates?: string;
}

/** Starts the daemons of both gateways (each supervising its keepalived and conntrackd) and waits for a master. */
export async function startHaGroup(topo: HaTopology, options: HaGroupOptions = {}): Promise<HaGroup> {
  const adminToken = newSecret("admin");
  const certificates = options.certificates ?? mkdtempSync(join(tmpdir(), "egw-peer-certs-"));
  await ensureGroupCertificates(certificates);
  const start = (key: GatewayKey) => startDaemon(topo.gateways[key], {
    ...options.daemon?.(key),
    name: HA_ADDR.gateways[key].name,
    adminToken,
    ha: haSection(key, certificates),
  });
  const a = await start("a");
  // gw-a first, so that it wins the first election deterministically (it also has the higher priority).
  await waitFor(async () => (await roleOf(a)) === "master", 10_000, "gw-a to become master");
  const b = await start("b");
  const daemons = { a, b };
  const group: HaGroup = {
    daemons, adminToken, certificates,
    role: (key) => roleOf(daemons[key]),
    waitForRole: (key, role, timeoutMs = 10_000) => waitFor(async () => (await roleOf(daemons[key])) === role, timeoutMs, `${key} to become ${role}`),
    stop: async () => {
      await Promise.all(Object.values(daemons).map((d) => d.stop().catch(() => undefined)));
      for (const d of Object.values(daemons)) d.cleanup();
      if (!options.certificates) rmSync(certificates, { recursive: true, force: true });
    },
  };
  await group.waitForRole("b", "backup");
  return group;
}

async function roleOf(daemon: DaemonHandle): Promise<string> {
  const response = await daemon.api("GET", "/v1/status").catch(() => undefined);
  return response?.status === 200 ? (response.body as { role: string }).role : "down";
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export interface Background<T> {
  /** Stops it (SIGTERM) and returns its JSON report. */
  finish(): Promise<T>;
}

/** A node script in `ns`, resolved once it prints `readyLine`; finish() stops it and parses its last line as JSON. */
export async function background<T>(ns: Netns, script: string, args: string[], readyLine: string): Promise<Background<T>> {
  const child = ns.spawn(process.execPath, [script, ...args], { reject: false });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${out}`)), 10_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      if (out.includes(readyLine)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    finish: async () => {
      child.kill("SIGTERM");
      const result = await child;
      const last = String(result.stdout).trim().split("\n").pop() ?? "{}";
      return JSON.parse(last) as T;
    },
  };
}

export interface StreamReport { sent: number; received: number; maxGapMs: number; error: string | null; open: boolean }
export interface ProbeReport {
  attempts: number;
  answered: number;
  outageMs: number;
  /** Time from the last answered probe to the last probe sent: large when answers never came back (absent from older reports). */
  openGapMs?: number;
  seen: Record<string, number>;
}

/** A TCP stream from `pod` to the server's echo port that reports whether it survived. */
export const openStream = (pod: Netns, host: string) => background<StreamReport>(pod, STREAM_CLIENT, [host, "8081", "20"], "connected");

/** New connections from `pod` every 20 ms; reports the longest gap between answered ones. */
export const startProber = (pod: Netns, host: string) => background<ProbeReport>(pod, PROBER, [host, "8080", "20", "300"], "probing");
