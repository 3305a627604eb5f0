import { request } from "node:http";
import { randomBytes } from "node:crypto";
import { chownSync, closeSync, createWriteStream, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type { Netns } from "./netns.js";

const EGW_BIN = fileURLToPath(new URL("../bin/egw.js", import.meta.url));
/** The same Node flags and environment as templates/systemd/egw.service, so the lab and the benchmarks run the daemon as production does. */
const DAEMON_NODE_FLAGS = ["--max-old-space-size=256", "--max-semi-space-size=2", "--expose-gc"];
const DAEMON_ENVIRONMENT = { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" };

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/**
 * Calls the daemon's API over its Unix socket: sockets are files, so the test needs no route into the namespace.
 * `timeoutMs`: how long the answer may be silent (a benchmark's PUT of 100k mappings on a busy machine takes longer).
 */
export function callApi(socketPath: string, method: string, path: string, token: string | undefined, body?: unknown, timeoutMs = 30_000): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({
      socketPath, method, path,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // metrics and other text bodies stay strings
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on("error", reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path} timed out`)));
    if (payload) req.write(payload);
    req.end();
  });
}

export interface DaemonHandle {
  dir: string;
  socket: string;
  adminToken: string;
  log: () => string;
  /** The daemon's process id while it runs. */
  pid: () => number | undefined;
  api: (method: string, path: string, body?: unknown, token?: string) => Promise<ApiResponse>;
  stop: () => Promise<void>;
  start: () => Promise<void>;
  cleanup: () => void;
}

export interface DaemonOptions {
  name?: string;
  dataplane?: Record<string, unknown>;
  /** Extra fields of the `api` config section (body limit, wait timeout). */
  api?: Record<string, unknown>;
  /** An `ha` config section (with absolute paths for its TLS files). */
  ha?: Record<string, unknown>;
  /** A `translationLog` config section (e.g. { enabled: true }). */
  translationLog?: Record<string, unknown>;
  /** A `policy` config section (DNS resolvers and TTL bounds, the policy log). */
  policy?: Record<string, unknown>;
  /** Extra listen addresses besides the Unix socket (peers reach each other over TCP). */
  listen?: string[];
  adminToken?: string;
  readyTimeoutMs?: number;
  /** Directory for the config, token, database and socket (created if missing); default: a new temporary one. */
  dir?: string;
  /** Append the daemon's output to this file instead of keeping it in memory (long-running labs). */
  logFile?: string;
  /** The daemon's log level (default debug). */
  logLevel?: "trace" | "debug" | "info" | "warn" | "error";
  /**
   * Run the daemon as this unprivileged user (uid and gid), holding CAP_NET_ADMIN and nothing else, as the
   * systemd unit runs it (User=egw, AmbientCapabilities=CAP_NET_ADMIN). Its directory is handed to that user.
   */
  unprivileged?: { uid: number; gid: number };
}

/** Drops to `user` with CAP_NET_ADMIN as the only capability (bounding, inheritable and ambient sets). */
function unprivilegedPrefix(user: { uid: number; gid: number }): string[] {
  return ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups",
    "--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin", "--bounding-set=-all,+net_admin", "--"];
}

export const newSecret = (label: string): string => `${label}-${randomBytes(24).toString("hex")}`;

/** Runs the real daemon (the built bin/egw.js) inside `ns`, with its own config, token and database. */
export async function startDaemon(ns: Netns, options: DaemonOptions = {}): Promise<DaemonHandle> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "egw-it-"));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, "api.sock");
  const adminToken = options.adminToken ?? newSecret("admin");
  writeFileSync(join(dir, "admin-token"), `${adminToken}\n`, { mode: 0o600 });
  const config = {
    gateway: { name: options.name ?? "gw-test" },
    api: { listen: [`unix:${socket}`, ...(options.listen ?? [])], adminTokenFile: "admin-token", waitTimeoutMs: 10_000, ...options.api },
    database: { path: "egw.db" },
    network: { inside: { interface: "inside" }, outside: { interface: "outside" } },
    dataplane: { driftCheckIntervalMs: 1_000, ...options.dataplane },
    ...(options.ha ? { ha: { processes: "supervised", runDirectory: "run", ...options.ha } } : {}),
    ...(options.translationLog ? { translationLog: options.translationLog } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
    log: { level: options.logLevel ?? "debug" },
  };
  writeFileSync(join(dir, "egw.json"), JSON.stringify(config, null, 2));
  const user = options.unprivileged;
  if (user) for (const path of [dir, join(dir, "admin-token"), join(dir, "egw.json")]) chownSync(path, user.uid, user.gid);
  let output = "";
  let child: ReturnType<Netns["spawn"]> | undefined;
  const logFile = options.logFile;
  const log = () => (logFile ? tailOf(logFile, 64 * 1024) : output);

  const start = async () => {
    const command = [...(user ? unprivilegedPrefix(user) : []), process.execPath, ...DAEMON_NODE_FLAGS, EGW_BIN, "serve", "--config", join(dir, "egw.json")];
    child = ns.spawn(command[0] as string, command.slice(1), { all: true, buffer: false, reject: false, env: DAEMON_ENVIRONMENT });
    if (logFile) child.all?.pipe(createWriteStream(logFile, { flags: "a" }));
    else child.all?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
    for (;;) {
      const ready = await callApi(socket, "GET", "/readyz", undefined).catch(() => undefined);
      if (ready?.status === 200) return;
      if (child.exitCode !== null && child.exitCode !== undefined) throw new Error(`egw exited with ${child.exitCode}:\n${log()}`);
      if (Date.now() > deadline) throw new Error(`egw not ready in time:\n${log()}`);
      await sleep(100);
    }
  };
  const stop = async () => {
    if (!child) return;
    child.kill("SIGTERM");
    await child;
    child = undefined;
  };
  await start();
  return {
    dir, socket, adminToken, start, stop,
    log,
    pid: () => child?.pid,
    api: (method, path, body, token = adminToken) => callApi(socket, method, path, token, body),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The last `bytes` of a file ("" if it does not exist). */
function tailOf(path: string, bytes: number): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "";
  }
  try {
    const size = statSync(path).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString("utf8");
  } finally {
    closeSync(fd);
  }
}
