import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { AppError, errorMessage } from "../errors.js";
import type { ApplyReport } from "../reconcile/reconciler.js";
import { Follower } from "../replication/follower.js";
import { Replicator } from "../replication/leader.js";
import { PeerClient } from "../replication/peer-client.js";
import { PeerTransport } from "../replication/peer-transport.js";
import { PeerView } from "../replication/peer-view.js";
import { REPLICATION_PROTOCOL, type ProtocolRange } from "../replication/protocol.js";
import { ProtocolGuard } from "../replication/protocol-guard.js";
import * as reads from "../store/reads.js";
import { StaticOwnAddresses, type OwnAddresses } from "../service/own-addresses.js";
import type { Store } from "../store/store.js";
import type { SystemFiles } from "../system/files.js";
import { PidFileProbe, type ProcessProbe } from "../system/process-probe.js";
import type { CommandRunner } from "../system/runner.js";
import { Supervisor } from "../system/supervisor.js";
import { ReloadableCredentials } from "../tls/credentials.js";
import { ApplyHealthPolicy } from "./apply-health.js";
import { ConntrackdManager } from "./conntrackd.js";
import { floatingAddresses, withdrawFloatingAddresses } from "./floating-addresses.js";
import { haConfigPaths } from "./config-paths.js";
import { HealthFile } from "./health-file.js";
import { keepalivedView } from "./keepalived-view.js";
import { KeepalivedWatch } from "./keepalived-watch.js";
import { KeepalivedManager } from "./keepalived.js";
import { RoleTracker } from "./role-tracker.js";

const GROUP_NEUTRAL_ADDRESSES = new StaticOwnAddresses([]);

type HaConfig = NonNullable<Config["ha"]>;

export interface HaModeOptions {
  config: Config;
  ha: HaConfig;
  store: Store;
  runner: CommandRunner;
  /** The run directory, the notify fifo, the health file and keepalived's and conntrackd's configuration. */
  files: SystemFiles;
  log: Logger;
  /** This gateway's own addresses, for the store rules replicated data must obey. */
  own: OwnAddresses;
  probe?: ProcessProbe;
}

/**
 * Everything a gateway of a VRRP group adds to a single gateway, wired together: keepalived (VIPs and
 * egress IPs) and the watch on it, conntrackd (connection state), the role tracker, the health file and
 * the policy that sets it, and configuration replication led by whichever gateway is VRRP master.
 */
export class HaMode {
  readonly roles: RoleTracker;
  readonly health: HealthFile;
  readonly keepalived: KeepalivedManager;
  readonly conntrackd: ConntrackdManager;
  readonly replicator: Replicator;
  readonly follower: Follower;
  readonly peerView = new PeerView();
  /** The replication protocol versions this gateway speaks, and the check of every message the peer sends. */
  readonly protocol: ProtocolRange;
  readonly protocolGuard: ProtocolGuard;
  /** This gateway's identity on the replication channel, shared by its listener and its client. */
  readonly peerCredentials: ReloadableCredentials;
  private readonly watch: KeepalivedWatch;
  private readonly applyHealth: ApplyHealthPolicy;
  private readonly peerTransport: PeerTransport;
  private readonly peerClients: PeerClient[];
  private readonly paths: { notifyFifo: string; healthFile: string };
  private lastApply: ApplyReport | undefined;

  constructor(private readonly options: HaModeOptions) {
    const { config, ha, store, runner, files, log } = options;
    const run = ha.runDirectory;
    this.paths = haConfigPaths(ha);
    this.peerCredentials = new ReloadableCredentials({ cert: ha.tls.cert, key: ha.tls.key, ca: ha.tls.peerCertificates }, "ha.tls");
    const supervised = ha.processes === "supervised";
    const { keepalived: keepalivedPath, conntrackd: conntrackdPath } = haConfigPaths(ha);
    // With systemd, where the shipped keepalived.service drop-in has keepalived write them.
    const pidFiles = supervised ? [join(run, "keepalived.pid"), join(run, "vrrp.pid")] : ["/run/keepalived/keepalived.pid", "/run/keepalived/vrrp.pid"];
    this.roles = new RoleTracker(this.paths.notifyFifo, "egw_inside", log.child({ component: "vrrp" }));
    this.health = new HealthFile(files, this.paths.healthFile);
    const keepalivedSupervisor = supervised
      ? new Supervisor({ name: "keepalived", command: "keepalived", args: [
        "-f", keepalivedPath, "-p", pidFiles[0]!, "-r", pidFiles[1]!, "-c", join(run, "checkers.pid"),
        "--no-syslog", "--log-console", "--log-detail", "--dont-fork"] }, log.child({ component: "keepalived" }))
      : undefined;
    this.keepalived = new KeepalivedManager(runner, files, keepalivedPath, this.health, keepalivedSupervisor
      ? { kind: "supervised", supervisor: keepalivedSupervisor }
      : { kind: "systemd" }, log.child({ component: "keepalived" }));
    this.watch = new KeepalivedWatch({
      pidFiles: ha.keepalivedPidFiles ?? pidFiles, intervalMs: ha.keepalivedCheckIntervalMs,
      probe: options.probe ?? new PidFileProbe(), supervisor: keepalivedSupervisor,
    }, log.child({ component: "keepalived-watch" }));
    this.conntrackd = new ConntrackdManager(runner, files, conntrackdPath, {
      generatedFor: config.gateway.name,
      interface: ha.syncLink.interface,
      localAddress: ha.syncLink.address,
      peerAddress: ha.peer.address,
      port: ha.ports.conntrackd,
      systemd: !supervised,
      // In the run directory in both modes: the conntrackd.service drop-in leaves only that writable.
      logFile: join(run, "conntrackd.log"),
      lockFile: join(run, "conntrackd.lock"),
      controlSocket: join(run, "conntrackd.ctl"),
    }, supervised
      ? { kind: "supervised", supervisor: new Supervisor({
        name: "conntrackd", command: "conntrackd", args: ["-C", conntrackdPath],
        // A conntrackd that died left its lock file: the next one would refuse to start.
        beforeRestart: () => this.conntrackd.clearStaleLock(),
      }, log.child({ component: "conntrackd" })) }
      : { kind: "systemd" }, log.child({ component: "conntrackd" }));
    this.peerTransport = new PeerTransport({ name: ha.peer.name, address: ha.peer.address, port: ha.ports.replication }, this.peerCredentials);
    const replicationLog = log.child({ component: "replication" });
    this.protocol = ha.replicationProtocolForTests ?? REPLICATION_PROTOCOL;
    if (ha.replicationProtocolForTests) {
      replicationLog.warn({ protocol: this.protocol, release: REPLICATION_PROTOCOL }, "ha.replicationProtocolForTests is set: this gateway claims other replication protocol versions than its release speaks (for tests only)");
    }
    this.protocolGuard = new ProtocolGuard({ name: config.gateway.name, peer: ha.peer.name, range: this.protocol, log: replicationLog });
    this.peerClients = [new PeerClient(this.peerTransport, ha.replicationTimeoutMs, ha.replicationBodyLimitBytes, {
      name: config.gateway.name, range: this.protocol, onPeerProtocol: (range) => this.protocolGuard.peerSpeaks(range),
    })];
    const names = [config.gateway.name, ha.peer.name].sort();
    this.replicator = new Replicator({
      store, name: config.gateway.name, peers: this.peerClients, slot: names.indexOf(config.gateway.name),
      timeoutMs: ha.replicationTimeoutMs, revocationTimeoutMs: ha.revocationTimeoutMs, log: replicationLog,
      lastApply: () => this.lastApply, peerView: this.peerView,
    });
    this.follower = new Follower(store, {
      name: config.gateway.name,
      peer: ha.peer.name,
      isLeader: () => this.replicator.isLeader(),
      role: () => this.roles.role,
      // The store rules replicated data must obey are the group's, not this machine's: which addresses are a
      // gateway's own differs between the two (each reserves the other's), and a rule that holds on the leader
      // but not here would stop replication for every tenant. The leader's API checks those per machine.
      own: GROUP_NEUTRAL_ADDRESSES,
      lastApply: () => this.lastApply,
      peerView: this.peerView,
    }, replicationLog);
    this.applyHealth = new ApplyHealthPolicy({ health: this.health, peerView: this.peerView, peer: ha.peer.name, log: log.child({ component: "apply-health" }) });
  }

  /** keepalived's view for the given egress IPs, for the reconciler and for `egw show`. */
  view(egressIps: readonly string[]) {
    return keepalivedView(this.options.config, this.options.ha, egressIps, this.paths);
  }

  async start(): Promise<void> {
    this.options.files.makeDirectory(this.options.ha.runDirectory, 0o750);
    this.peerCredentials.load();
    await this.options.files.makeFifo(this.paths.notifyFifo, 0o600);
    this.health.init();
    this.roles.on("role", (role) => void this.onRole(role));
    this.roles.start();
    this.peerView.on("updated", () => this.applyHealth.onPeerReport());
    this.watch.on("lost", (reason) => void this.onKeepalivedLost(reason));
    this.watch.start();
    await this.conntrackd.start();
    await this.inferRoleFromAddresses();
  }

  /**
   * With keepalived under systemd, a restarted daemon finds keepalived already running in whatever state it is in,
   * and keepalived announces a state only when it changes. keepalived puts the inside VIPs on this gateway only as
   * master: all of them here means master, none of them backup (or fault, which the next change corrects).
   */
  private async inferRoleFromAddresses(): Promise<void> {
    // Only beside a keepalived already running: one the daemon's first configuration starts announces its state.
    if (this.options.ha.processes !== "systemd" || this.roles.role !== "unknown" || !this.watch.running) return;
    const inside = this.options.config.network.inside.interface;
    const vips = floatingAddresses(this.options.config, this.options.ha, []).map((a) => a.address);
    try {
      const present = await insideAddresses(this.options.runner, inside);
      const held = vips.filter((vip) => present.has(vip));
      if (held.length === vips.length && vips.length > 0) this.roles.assume("master", `the inside VIPs are on ${inside}`);
      else if (held.length === 0) this.roles.assume("backup", `no inside VIP is on ${inside}`);
    } catch (error) {
      this.options.log.warn({ err: error }, "could not read the inside addresses; the role stays unknown until keepalived reports one");
    }
  }

  /** Whether keepalived was last seen running (its pid files name live processes). */
  get keepalivedRunning(): boolean {
    return this.watch.running;
  }

  /** Every data-plane pass: remembered for the peer (heartbeats) and judged by the fault policy. */
  onApplyReport(report: ApplyReport): void {
    this.lastApply = report;
    this.applyHealth.onReport(report);
  }

  /** What the API needs of the group: replication, leadership, handover (structurally ApiDeps["ha"]). */
  forApi() {
    return {
      follower: this.follower,
      isLeader: () => this.replicator.isLeader(),
      peers: () => [...this.peerClients],
      leader: () => this.leader(),
      probeLeader: () => this.probeLeader(),
      replicate: (revision: number, kind: "write" | "revocation") => this.replicator.replicate(revision, kind),
      handover: () => this.handover(),
      revocationTimeoutMs: this.options.ha.revocationTimeoutMs,
      protocol: this.protocolGuard,
    };
  }

  /** The peers as /v1/status shows them: what replication knows of each, and what it last reported itself. */
  peersForStatus(revision: number) {
    return this.replicator.peers().map((peer) => {
      const seen = this.peerView.get(peer.name);
      return {
        name: peer.name, role: knownRole(seen?.role), appliedRevision: peer.revision ?? 0,
        inSync: peer.revision === revision, lastApply: seen?.lastApply ?? null, replication: peer.status,
        replicationError: peer.lastError,
        // What it last said it speaks, in either direction: its answers to this gateway, or its own messages.
        replicationProtocol: this.protocolGuard.peerRange ?? null,
      };
    });
  }

  /** What /v1/status lists under warnings for HA. */
  warnings(): string[] {
    return [
      ...this.health.failing().map((reason) => `VRRP health failing: ${reason}`),
      ...this.applyHealth.warnings(),
      // Only while leading: a backup's links are stale (they are what it saw when it last led).
      ...this.replicator.peers().filter((peer) => this.replicator.isLeader() && peer.status === "incompatible").map((peer) => `not replicating to ${peer.name}: ${peer.lastError ?? "incompatible replication protocol"}`),
      ...this.protocolGuard.warnings(),
      ...(this.roles.role === "fault" && !this.keepalivedRunning ? ["keepalived is not running: this gateway holds no VIPs and does not lead"] : []),
    ];
  }

  private async onRole(role: string): Promise<void> {
    try {
      if (role === "master") await this.replicator.becomeLeader();
      else this.replicator.stepDown();
      await this.conntrackd.onRole(this.roles.role);
    } catch (error) {
      this.options.log.error({ err: error, role }, "reacting to a role change failed");
    }
  }

  /** keepalived died: stop leading at once and take the addresses down it can no longer take down itself. */
  private async onKeepalivedLost(reason: string): Promise<void> {
    this.replicator.stepDown();
    this.roles.lost(reason);
    const egressIps = reads.listEgressIps(this.options.store.db).map((ip) => ip.address);
    await withdrawFloatingAddresses(this.options.runner, floatingAddresses(this.options.config, this.options.ha, egressIps), this.options.log.child({ component: "keepalived-watch" }));
  }

  leader(): PeerClient | undefined {
    const { leader } = this.follower.state();
    return this.peerClients.find((peer) => peer.name === leader);
  }

  /** The peer that is master, to forward a write to; or why there is none to reach. */
  async probeLeader(): Promise<{ leader: PeerClient } | { reason: string }> {
    const reasons: string[] = [];
    for (const peer of this.peerClients) {
      try {
        const state = await peer.state();
        if (state.role === "master") return { leader: peer };
        reasons.push(`${peer.name} is ${state.role}, not master`);
      } catch (error) {
        reasons.push(`${peer.name} is unreachable (${errorMessage(error)})`);
      }
    }
    return { reason: `no leader reachable: ${this.options.config.gateway.name} is ${this.roles.role}; ${reasons.join("; ")}` };
  }

  /**
   * Graceful switchover: fault ourselves through the health file (a FAULT gateway advertises priority 0,
   * so a backup takes over at once, without waiting for missed adverts), wait until a peer is master,
   * then clear the fault; without preemption we stay backup. Deadlines use the monotonic clock: a wall
   * clock stepped by NTP must not cut the wait short or stretch it.
   */
  async handover(): Promise<{ from: string; role: string }> {
    const name = this.options.config.gateway.name;
    if (this.roles.role !== "master") throw new AppError("conflict", `${name} is not master (it is ${this.roles.role})`);
    await this.waitForCaughtUpPeer();
    this.health.set("handover", true);
    try {
      const deadline = performance.now() + 10_000;
      for (;;) {
        const states = await Promise.allSettled(this.peerClients.map((peer) => peer.state()));
        if (states.some((s) => s.status === "fulfilled" && s.value.role === "master")) break;
        if (performance.now() > deadline) throw new AppError("not-ready", "no peer became master within 10 s; this gateway takes mastership back");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      this.health.set("handover", false);
    }
    // Cleared of the fault, keepalived moves to BACKUP within an advert or two (nopreempt keeps it there).
    for (let i = 0; i < 40 && (this.roles.role as string) !== "backup"; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    return { from: name, role: this.roles.role };
  }

  /**
   * On the way out: a master hands over when a peer reports itself ready to take the floating IPs (backup);
   * with no such peer it keeps them, since a stopped daemon's data plane stays in force and keeps forwarding.
   */
  async yieldMastership(): Promise<void> {
    if (this.roles.role !== "master") return;
    const log = this.options.log.child({ component: "handover" });
    const states = await Promise.allSettled(this.peerClients.map((peer) => peer.state()));
    if (!states.some((s) => s.status === "fulfilled" && s.value.role === "backup")) {
      log.warn("stopping as master: no peer is ready to take over, this gateway keeps the floating IPs");
      return;
    }
    try {
      const result = await this.handover();
      log.info(result, "stopping: handed the floating IPs to the peer");
    } catch (error) {
      log.error({ err: error }, "stopping: the handover failed; this gateway keeps the floating IPs");
    }
  }

  /**
   * A handover only to a backup that holds every write this master has: writes acknowledged while the peer was away
   * (restarting, being upgraded) reach it with its catch-up, and a new master without them would lead the group on
   * a history that loses them. Once the peer has caught up, every new write is replicated to it before it is
   * acknowledged. Waits up to 10 s for the catch-up (monotonic clock), then refuses.
   */
  private async waitForCaughtUpPeer(): Promise<void> {
    const deadline = performance.now() + 10_000;
    for (;;) {
      const revision = this.options.store.revision();
      const states = await Promise.allSettled(this.peerClients.map((peer) => peer.state()));
      const seen = states.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
      if (seen.some((state) => state.role === "backup" && state.revision >= revision)) return;
      if (performance.now() > deadline) {
        const what = seen.map((state) => `${state.name} is ${state.role} at revision ${state.revision}`).join("; ") || "no peer answers";
        throw new AppError("conflict", `no backup holds revision ${revision} yet (${what}): a handover now would lose acknowledged writes; retry once it has caught up`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    this.watch.stop();
    this.replicator.stop();
    this.peerTransport.close();
    this.peerCredentials.stop();
    this.roles.stop();
    await this.keepalived.stop();
    await this.conntrackd.stop();
  }
}

/** The addresses on an interface, as ADDRESS/LEN (the form keepalived adds them in). */
async function insideAddresses(runner: CommandRunner, iface: string): Promise<Set<string>> {
  const result = await runner.run("ip", ["-j", "address", "show", "dev", iface]);
  const links = JSON.parse(result.stdout || "[]") as { ifname?: string; addr_info?: { local?: string; prefixlen?: number }[] }[];
  return new Set(links.filter((link) => link.ifname === iface).flatMap((link) => link.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
}

const ROLES = ["master", "backup", "fault", "unknown"] as const;

/** A peer's role as it reported it, if it is one /v1/status knows. */
function knownRole(role: string | null | undefined): (typeof ROLES)[number] {
  return ROLES.find((r) => r === role) ?? "unknown";
}
