// Debian 13 machines booted with systemd as PID 1 (systemd-nspawn), each inside a network namespace the test made,
// for the system tests: the package installed by the Vagrant lab's provisioning scripts, driven through systemd.
//
// The root file system is the cached one of scripts/build-debian13-root.sh, booted with --volatile=overlay: every
// write lands in the machine's own tmpfs, the cache stays as it was. The machine's processes live in the test's
// namespace, so destroying the namespace (which kills every process in it) also ends the machine; stop() does it
// explicitly and waits for systemd-nspawn to exit.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa, type ResultPromise } from "execa";
import type { Netns } from "../../lab/netns.js";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

/** A clean environment for commands in the machine: nothing of the test runner's (NODE_TEST_CONTEXT, …). */
const MACHINE_ENV = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"];

/** Builds (once, about 5 minutes) or reuses the cached Debian 13 root file system, and returns its path. */
export function debian13Root(): string {
  return execFileSync("bash", [join(PACKAGE_ROOT, "scripts", "build-debian13-root.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

export interface Machine {
  name: string;
  /** PID 1 of the machine (systemd), as the host sees it. */
  pid1: number;
  /** Runs a command in the machine (all its namespaces, a clean environment); rejects on a non-zero exit. */
  run(cmd: string, args?: readonly string[], options?: { reject?: boolean; input?: string }): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** A path inside the machine, as the host can open it (through /proc/PID/root). */
  path(inside: string): string;
  /** The console output of the boot so far (systemd's messages), for failure reports. */
  console(): string;
  stop(): Promise<void>;
}

export interface BootOptions {
  name: string;
  root: string;
  netns: Netns;
  /** Host directories bound read-only into the machine: host path → path in the machine. */
  readOnlyBinds?: Record<string, string>;
  /** Where the console log goes. */
  logFile: string;
}

export async function bootMachine(options: BootOptions): Promise<Machine> {
  const binds = Object.entries(options.readOnlyBinds ?? {}).map(([host, inside]) => `--bind-ro=${host}:${inside}`);
  const cgroups = machineCgroups(options.name);
  for (const dir of cgroups) mkdirSync(dir, { recursive: true });
  const nspawn: ResultPromise = execa("bash", [join(PACKAGE_ROOT, "test", "system", "in-cgroups.sh"), ...cgroups, "--", "systemd-nspawn",
    "-D", options.root, "--volatile=overlay", "--boot", "--register=no", "--keep-unit",
    "-M", options.name, `--network-namespace-path=/run/netns/${options.netns.name}`,
    // What a VM's root has and nspawn withholds unless it made the network itself: the daemon's one capability.
    "--capability=CAP_NET_ADMIN", ...binds,
  ], {
    stdin: "ignore", stdout: { file: options.logFile }, stderr: { file: options.logFile }, reject: false, detached: true,
    // The machine's network is the test's namespace, not one nspawn made: without this, systemd-nspawn 252 mounts
    // /proc/sys/net read-only and neither the provisioning's sysctls nor the daemon's forwarding switch can be set.
    // The unified cgroup hierarchy inside, whatever the host runs: with the legacy one, systemd in a container is
    // never told that a stopped service's cgroup emptied and waits out TimeoutStopSec= on every stop and restart.
    env: { SYSTEMD_NSPAWN_API_VFS_WRITABLE: "network", SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: "1" },
  });
  void nspawn.then(() => undefined, () => undefined);
  const consoleLog = () => (existsSync(options.logFile) ? readFileSync(options.logFile, "utf8") : "");
  let pid1 = 0;
  const stop = async () => {
    if (pid1 > 0) killQuietly(pid1);
    if (nspawn.exitCode === null && nspawn.signalCode === null) {
      const exited = nspawn.then(() => true, () => true);
      if (!(await Promise.race([exited, sleep(10_000).then(() => false)]))) {
        nspawn.kill("SIGKILL");
        await exited;
      }
    }
    // systemd-nspawn leaves its propagation directory behind when the machine is killed.
    rmSync(join("/run/systemd/nspawn/propagate", options.name), { recursive: true, force: true });
    for (const dir of cgroups) await removeCgroupTree(dir);
  };
  try {
    pid1 = await waitForPid1(nspawn.pid ?? 0, consoleLog);
    const run: Machine["run"] = async (cmd, args = [], runOptions = {}) => {
      const result = await execa("nsenter", ["-t", String(pid1), "-a", "--", ...MACHINE_ENV, cmd, ...args], {
        reject: false, ...(runOptions.input === undefined ? { stdin: "ignore" as const } : { input: runOptions.input }),
      });
      const out = { stdout: String(result.stdout), stderr: String(result.stderr), exitCode: result.exitCode ?? -1 };
      if (runOptions.reject !== false && out.exitCode !== 0) {
        throw new Error(`${options.name}: ${cmd} ${args.join(" ")} exited ${out.exitCode}\n${out.stdout}\n${out.stderr}`);
      }
      return out;
    };
    // Booted: systemd says running (or degraded: a unit that needs hardware a container lacks).
    const deadline = performance.now() + 120_000;
    for (;;) {
      const state = (await run("systemctl", ["is-system-running"], { reject: false })).stdout.trim();
      if (state === "running" || state === "degraded") break;
      if (performance.now() > deadline) throw new Error(`${options.name} did not boot (state ${state})\n${consoleLog().slice(-3000)}`);
      await sleep(200);
    }
    return { name: options.name, pid1, run, path: (inside) => `/proc/${pid1}/root${inside}`, console: consoleLog, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * A cgroup directory of the machine's own in each hierarchy systemd uses (cgroup2, and the name=systemd one of a
 * host on the legacy layout): see in-cgroups.sh.
 */
function machineCgroups(name: string): string[] {
  return readFileSync("/proc/self/mounts", "utf8").split("\n").map((line) => line.split(" ")).filter(([, , type, opts]) =>
    type === "cgroup2" || (type === "cgroup" && (opts ?? "").split(",").includes("name=systemd")),
  ).map(([, mountPoint]) => join(mountPoint!, `egw-machine-${name}`));
}

/** Removes a cgroup tree once its processes are gone (a cgroup is removed with rmdir, innermost first). */
async function removeCgroupTree(dir: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  const remove = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) remove(join(path, entry.name));
    rmdirSync(path);
  };
  for (;;) {
    try {
      if (existsSync(dir)) remove(dir);
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

/** PID 1 of the machine: the child of systemd-nspawn that is PID 1 in its own PID namespace. */
async function waitForPid1(nspawnPid: number, consoleLog: () => string): Promise<number> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const children = spawnSync("cat", [`/proc/${nspawnPid}/task/${nspawnPid}/children`], { encoding: "utf8" }).stdout ?? "";
    for (const pid of children.split(/\s+/).filter(Boolean).map(Number)) {
      const status = spawnSync("cat", [`/proc/${pid}/status`], { encoding: "utf8" }).stdout ?? "";
      if (/^NSpid:\s+\d+\s+1$/m.test(status)) return pid;
    }
    await sleep(50);
  }
  throw new Error(`systemd-nspawn started no machine\n${consoleLog().slice(-3000)}`);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
