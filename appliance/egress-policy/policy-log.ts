import { join } from "node:path";
import type { Logger } from "pino";
import { errorMessage } from "../errors.js";
import { followFifo, type FollowedFifo } from "../system/fifo.js";
import type { SystemFiles } from "../system/files.js";
import { Supervisor, type ChildExit, type SupervisedSpec } from "../system/supervisor.js";
import { renderPolicyUlogdConfig, type PolicyLogSettings } from "./policy-log-config.js";
import { parsePolicyLogLine, type AttributedPolicyEvent, type PolicyVerdict } from "../policy/policy-event.js";
import { RecentDenials } from "../policy/recent-denials.js";

/** Which mapping a source address belongs to (built by the daemon from the mappings' source ranges). */
export type PolicyAttribution = (source: string) => { cluster: string; mapping: string } | undefined;

/** What this needs of appliance/system/supervisor.ts's Supervisor (a fake in unit tests). */
export interface PolicyUlogdProcess {
  start(): void;
  stop(): Promise<void>;
  on(event: "spawn", listener: (pid: number | undefined) => void): unknown;
  on(event: "exit", listener: (exit: ChildExit) => void): unknown;
}

export interface PolicyLogOptions {
  settings: PolicyLogSettings;
  files: Pick<SystemFiles, "makeDirectory" | "makeFifo" | "writeFile">;
  /** Where ulogd's config and the FIFO it writes to go (made 0700 when missing); the config is rewritten on every start. */
  directory: string;
  /** The gateway's name, for the config's header. */
  generatedFor: string;
  attribute: PolicyAttribution;
  log: Logger;
  clock?: () => number;
  /** Tests replace these; the daemon runs the real ulogd under a Supervisor and reads the real FIFO. */
  ulogd?: (spec: SupervisedSpec, log: Logger) => PolicyUlogdProcess;
  followFifo?: typeof followFifo;
}

/** Running totals since the daemon started, for the metrics. */
export interface PolicyLogCounts {
  events: Record<PolicyVerdict, number>;
  /** Lines that were not a policy event (not JSON, another prefix in the group, no addresses). */
  unparsed: number;
  /** Events whose source no mapping holds: logged with cluster null, shown to administrators only. */
  unattributed: number;
}

export interface PolicyLogStatus extends PolicyLogCounts {
  /**
   * running: ulogd is reading the group. not-running: it is starting or restarting (or cannot run: see the
   * log). stopped: never started, or disabled. failed: the log could not start at all; the data plane runs on.
   */
  state: "running" | "not-running" | "stopped" | "failed";
  error?: string;
  group: number;
  /** ulogd (re)starts: more than one means it died at least once. */
  starts: number;
  lastEventMs: number | null;
}

const EVENT_NAMES: Record<PolicyVerdict, string> = { denied: "policy-denied", audited: "policy-audited", "floor-denied": "floor-denied" };
const MESSAGES: Record<PolicyVerdict, string> = {
  denied: "connection refused by an egress policy",
  audited: "connection an egress policy would refuse (audit mode)",
  "floor-denied": "connection refused by an egress floor",
};

/** The 1st, 2nd, 4th, 8th… occurrence: a flood of one problem cannot flood the daemon's log. */
const worthLogging = (n: number): boolean => (n & (n - 1)) === 0;

/**
 * The policy log, assembled: ulogd (NFLOG group → JSON into a FIFO) as the daemon's supervised child, each line
 * the FIFO carries parsed, attributed to a cluster and mapping by its source, written to the
 * daemon's log as one structured line, counted, and kept in the bounded buffer of recent events the API shows.
 * The data plane's `limit rate` bounds how many packets reach it; nothing here is stored on disk.
 */
export class PolicyLog {
  readonly recent: RecentDenials;
  private ulogd: PolicyUlogdProcess | undefined;
  private fifo: FollowedFifo | undefined;
  private running = false;
  private failure: string | undefined;
  private starts = 0;
  private lastEventMs: number | null = null;
  private readonly counts: PolicyLogCounts = { events: { denied: 0, audited: 0, "floor-denied": 0 }, unparsed: 0, unattributed: 0 };
  private attributionFailures = 0;
  private readonly clock: () => number;

  constructor(private readonly options: PolicyLogOptions) {
    this.recent = new RecentDenials(options.settings.recent);
    this.clock = options.clock ?? Date.now;
  }

  /** Starts ulogd. A log that cannot start must not take the data plane with it: the failure is logged and shown. */
  async start(): Promise<void> {
    const { settings, files, directory, generatedFor, log } = this.options;
    if (!settings.enabled || this.ulogd || this.fifo) return;
    try {
      files.makeDirectory(directory, 0o700);
      const configPath = join(directory, "ulogd-policy.conf");
      const fifoPath = join(directory, "ulogd-policy.fifo");
      await files.makeFifo(fifoPath, 0o600);
      files.writeFile(configPath, renderPolicyUlogdConfig(settings, { fifoPath, generatedFor }), 0o600);
      // Read before ulogd starts, so that its open of the FIFO never waits.
      this.fifo = (this.options.followFifo ?? followFifo)(fifoPath, (line) => this.receive(line),
        (error) => log.error({ err: error }, "policy log: reading the FIFO failed"));
      const spec: SupervisedSpec = { name: "ulogd-policy", command: settings.ulogd.command, args: ["-c", configPath] };
      const ulogdLog = log.child({ component: "ulogd-policy" });
      const ulogd: PolicyUlogdProcess = this.options.ulogd?.(spec, ulogdLog) ?? new Supervisor(spec, ulogdLog);
      ulogd.on("spawn", () => {
        this.running = true;
        this.starts++;
      });
      ulogd.on("exit", () => void (this.running = false));
      this.ulogd = ulogd;
      this.failure = undefined;
      ulogd.start();
      log.info({ group: settings.group }, "policy log started");
    } catch (error) {
      this.failure = errorMessage(error);
      log.error({ err: error }, "policy log failed to start; the data plane runs on without it");
      await this.stop();
    }
  }

  async stop(): Promise<void> {
    const ulogd = this.ulogd;
    this.ulogd = undefined;
    await ulogd?.stop();
    this.running = false;
    this.fifo?.close();
    this.fifo = undefined;
  }

  status(): PolicyLogStatus {
    const state = this.failure !== undefined ? "failed" : !this.ulogd ? "stopped" : this.running ? "running" : "not-running";
    return {
      state, ...(this.failure === undefined ? {} : { error: this.failure }),
      group: this.options.settings.group, starts: this.starts, lastEventMs: this.lastEventMs,
      events: { ...this.counts.events }, unparsed: this.counts.unparsed, unattributed: this.counts.unattributed,
    };
  }

  /** One line of ulogd's output. */
  receive(line: string): AttributedPolicyEvent | undefined {
    const { log } = this.options;
    const parsed = parsePolicyLogLine(line, this.clock());
    if (!parsed) {
      this.counts.unparsed++;
      if (worthLogging(this.counts.unparsed)) log.warn({ line: line.slice(0, 300), unparsed: this.counts.unparsed }, "policy log: line not understood");
      return undefined;
    }
    const owner = this.attribute(parsed.source);
    const event: AttributedPolicyEvent = { ...parsed, cluster: owner?.cluster ?? null, mapping: owner?.mapping ?? null };
    if (!owner) this.counts.unattributed++;
    this.counts.events[event.verdict]++;
    this.lastEventMs = event.atMs;
    this.recent.add(event);
    log.info({
      event: EVENT_NAMES[event.verdict], cluster: event.cluster, mapping: event.mapping, source: event.source, sourcePort: event.sourcePort,
      destination: event.destination, protocol: event.protocol, destinationPort: event.destinationPort,
    }, MESSAGES[event.verdict]);
    return event;
  }

  /** An attribution that throws still leaves the event recorded, as unattributed. */
  private attribute(source: string): ReturnType<PolicyAttribution> {
    try {
      return this.options.attribute(source);
    } catch (error) {
      this.attributionFailures++;
      if (worthLogging(this.attributionFailures)) this.options.log.error({ err: error, source }, "policy log: attribution failed; the event is kept as unattributed");
      return undefined;
    }
  }
}
