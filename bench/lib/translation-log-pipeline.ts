import { fork, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ResultPromise } from "execa";
import { configSchema } from "../../appliance/config/schema.js";
import type { Mapping } from "../../appliance/model.js";
import { renderUlogdConfig } from "../../appliance/translations/ulogd-config.js";
import type { BenchTopology } from "./bench-topology.js";
import type { WorkerRequest, WorkerSetup, WorkerStatus } from "./translation-log-worker.js";

type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** Polls `condition` until it holds or `timeoutMs` passed; says whether it held and when (ms after the start). */
export async function until(condition: () => Promise<boolean>, timeoutMs: number, pollMs = 100): Promise<{ met: boolean; afterMs: number }> {
  const started = performance.now();
  for (;;) {
    if (await condition()) return { met: true, afterMs: performance.now() - started };
    if (performance.now() - started > timeoutMs) return { met: false, afterMs: performance.now() - started };
    await sleep(pollMs);
  }
}

/** CPU seconds (user + system) a process used, from /proc; 0 once it is gone. */
function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * The translation log as the daemon runs it, for the benchmark: the real ulogd with the rendered configuration in
 * the gateway's namespace, and the ingest with the real store in a child process of its own (as the daemon is a
 * process of its own, its CPU competes with the data plane's). ulogd can be started and stopped ("log on/off")
 * while the ingest keeps its store. `cpuProfileDir` runs the ingest under `node --cpu-prof`.
 */
export class TranslationLogPipeline {
  private ulogd: ResultPromise<{ all: true; buffer: false; reject: false }> | undefined;
  private ulogdOutput = "";
  private ulogdCpuDone = 0;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (reply: { status?: WorkerStatus }) => void; reject: (error: Error) => void }>();
  readonly configPath: string;

  private constructor(private readonly topo: BenchTopology, private readonly worker: ChildProcess, readonly spoolPath: string) {
    this.configPath = join(topo.workDir, "ulogd.conf");
    worker.on("message", (reply: { id: number; status?: WorkerStatus }) => {
      this.waiting.get(reply.id)?.resolve(reply);
      this.waiting.delete(reply.id);
    });
    worker.on("exit", (code) => {
      for (const { reject } of this.waiting.values()) reject(new Error(`the ingest process exited (${code})`));
      this.waiting.clear();
    });
    writeFileSync(this.configPath, renderUlogdConfig(configSchema.shape.translationLog.parse({}), { spoolPath, generatedFor: "bench" }));
  }

  static async start(topo: BenchTopology, mapping: Mapping, cpuProfileDir?: string): Promise<TranslationLogPipeline> {
    const spoolPath = join(topo.workDir, "spool.json");
    const setup: WorkerSetup = { spoolPath, dbPath: join(topo.workDir, "translations.db"), mapping };
    const worker = fork(new URL("./translation-log-worker.js", import.meta.url), [JSON.stringify(setup)], {
      execArgv: cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", cpuProfileDir] : [],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const pipeline = new TranslationLogPipeline(topo, worker, spoolPath);
    await pipeline.status("0.0.0.0");
    return pipeline;
  }

  private request(request: Request): Promise<{ status?: WorkerStatus }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.worker.exitCode !== null) {
        reject(new Error(`the ingest process exited (${this.worker.exitCode})`));
        return;
      }
      this.waiting.set(id, { resolve, reject });
      this.worker.send({ ...request, id });
    });
  }

  async status(egress: string): Promise<WorkerStatus> {
    return (await this.request({ op: "status", egress })).status as WorkerStatus;
  }

  get ulogdRunning(): boolean {
    return this.ulogd !== undefined;
  }

  /** CPU seconds ulogd used, over all its runs. */
  ulogdCpuSeconds(): number {
    return this.ulogdCpuDone + cpuSecondsOf(this.ulogd?.pid);
  }

  async startUlogd(): Promise<void> {
    if (this.ulogd) return;
    this.ulogdOutput = "";
    const ulogd = this.topo.gateway.spawn("ulogd", ["-c", this.configPath], { all: true, buffer: false, reject: false });
    ulogd.all?.on("data", (chunk: Buffer) => void (this.ulogdOutput += chunk.toString()));
    this.ulogd = ulogd;
    const ready = await until(async () => this.ulogdOutput.includes("working in event mode") || ulogd.exitCode !== null, 10_000, 20);
    if (!ready.met || ulogd.exitCode !== null) throw new Error(`ulogd did not subscribe; it said: ${this.ulogdOutput.slice(-2000)}`);
    // `ip netns exec` execs ulogd: this pid is ulogd's own, which the ingest signals to reopen the spool.
    await this.request({ op: "ulogd", pid: ulogd.pid ?? null });
  }

  async stopUlogd(): Promise<void> {
    const ulogd = this.ulogd;
    if (!ulogd) return;
    this.ulogdCpuDone += cpuSecondsOf(ulogd.pid);
    await this.request({ op: "ulogd", pid: null });
    ulogd.kill("SIGTERM");
    await ulogd;
    this.ulogd = undefined;
  }

  async close(): Promise<void> {
    await this.stopUlogd();
    if (this.worker.exitCode === null) {
      const exited = new Promise((resolve) => this.worker.once("exit", resolve));
      await this.request({ op: "stop" }).catch(() => undefined);
      await exited;
    }
  }
}
