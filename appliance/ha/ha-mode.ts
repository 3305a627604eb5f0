import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { AppError } from "../errors.js";
import { Follower } from "../replication/follower.js";
import { Replicator } from "../replication/leader.js";
import { PeerClient } from "../replication/peer-client.js";
import { PeerTransport } from "../replication/peer-transport.js";
import type { Store } from "../store/store.js";
import type { CommandRunner } from "../system/runner.js";
import { Supervisor } from "../system/supervisor.js";
import { ReloadableCredentials } from "../tls/credentials.js";
import { ConntrackdManager } from "./conntrackd.js";
import { HealthFile } from "./health-file.js";
import { keepalivedView } from "./keepalived-view.js";
import { KeepalivedManager } from "./keepalived.js";
import { RoleTracker } from "./role-tracker.js";

type HaConfig = NonNullable<Config["ha"]>;

/**
 * Everything a gateway of a VRRP group adds to a single gateway, wired together: keepalived (VIPs and
 * egress IPs), conntrackd (connection state), the role tracker, the health file, and configuration
 * replication led by whichever gateway is VRRP master.
 */
export class HaMode {
  readonly roles: RoleTracker;
  readonly health: HealthFile;
  readonly keepalived: KeepalivedManager;
  readonly conntrackd: ConntrackdManager;
  readonly replicator: Replicator;
  readonly follower: Follower;
  /** This gateway's identity on the replication channel, shared by its listener and its client. */
  readonly peerCredentials: ReloadableCredentials;
  private readonly peerTransport: PeerTransport;
  private readonly peerClients: PeerClient[];
  private readonly files: { notifyFifo: string; healthFile: string };

  constructor(
    private readonly config: Config,
    private readonly ha: HaConfig,
    private readonly store: Store,
    private readonly runner: CommandRunner,
    private readonly log: Logger,
  ) {
    const run = ha.runDirectory;
    mkdirSync(run, { recursive: true, mode: 0o750 });
    this.files = { notifyFifo: join(run, "keepalived.fifo"), healthFile: join(run, "health") };
    this.peerCredentials = new ReloadableCredentials({ cert: ha.tls.cert, key: ha.tls.key, ca: ha.tls.peerCertificates }, "ha.tls");
    const supervised = ha.processes === "supervised";
    const keepalivedPath = ha.keepalivedConfigPath ?? (supervised ? join(run, "keepalived.conf") : "/etc/keepalived/keepalived.conf");
    const conntrackdPath = ha.conntrackdConfigPath ?? (supervised ? join(run, "conntrackd.conf") : "/etc/conntrackd/conntrackd.conf");
    this.roles = new RoleTracker(this.files.notifyFifo, "egw_inside", log.child({ component: "vrrp" }));
    this.health = new HealthFile(this.files.healthFile);
    this.keepalived = new KeepalivedManager(runner, keepalivedPath, supervised
      ? { kind: "supervised", supervisor: new Supervisor({ name: "keepalived", command: "keepalived", args: [
        "-f", keepalivedPath, "-p", join(run, "keepalived.pid"), "-r", join(run, "vrrp.pid"), "-c", join(run, "checkers.pid"),
        "--no-syslog", "--log-console", "--log-detail", "--dont-fork"] }, log.child({ component: "keepalived" })) }
      : { kind: "systemd", unit: "keepalived.service" }, log.child({ component: "keepalived" }));
    this.conntrackd = new ConntrackdManager(runner, conntrackdPath, {
      generatedFor: config.gateway.name,
      interface: ha.syncLink.interface,
      localAddress: ha.syncLink.address,
      peerAddress: ha.peer.address,
      port: ha.ports.conntrackd,
      systemd: !supervised,
      logFile: supervised ? join(run, "conntrackd.log") : "on",
      lockFile: join(run, "conntrackd.lock"),
      controlSocket: join(run, "conntrackd.ctl"),
    }, supervised
      ? { kind: "supervised", supervisor: new Supervisor({ name: "conntrackd", command: "conntrackd", args: ["-C", conntrackdPath] }, log.child({ component: "conntrackd" })) }
      : { kind: "systemd", unit: "conntrackd.service" }, log.child({ component: "conntrackd" }));
    this.peerTransport = new PeerTransport({ name: ha.peer.name, address: ha.peer.address, port: ha.ports.replication }, this.peerCredentials);
    this.peerClients = [new PeerClient(this.peerTransport, ha.replicationTimeoutMs, ha.replicationBodyLimitBytes)];
    const names = [config.gateway.name, ha.peer.name].sort();
    this.replicator = new Replicator(store, config.gateway.name, this.peerClients, names.indexOf(config.gateway.name), ha.replicationTimeoutMs, log.child({ component: "replication" }));
    this.follower = new Follower(store, {
      name: config.gateway.name,
      isLeader: () => this.replicator.isLeader(),
      role: () => this.roles.role,
    }, log.child({ component: "replication" }));
  }

  /** keepalived's view for the given egress IPs, for the reconciler and for `egw show`. */
  view(egressIps: readonly string[]) {
    return keepalivedView(this.config, this.ha, egressIps, this.files);
  }

  async start(): Promise<void> {
    this.peerCredentials.load();
    if (!existsSync(this.files.notifyFifo)) await this.runner.run("mkfifo", ["-m", "600", this.files.notifyFifo]);
    this.health.init();
    this.roles.on("role", (role) => void this.onRole(role));
    this.roles.start();
    await this.conntrackd.start();
  }

  private async onRole(role: string): Promise<void> {
    try {
      if (role === "master") await this.replicator.becomeLeader();
      else this.replicator.stepDown();
      await this.conntrackd.onRole(this.roles.role);
    } catch (error) {
      this.log.error({ err: error, role }, "reacting to a role change failed");
    }
  }

  leader(): PeerClient | undefined {
    const { leader } = this.follower.state();
    return this.peerClients.find((peer) => peer.name === leader);
  }

  /**
   * Graceful switchover: fault ourselves through the health file (a FAULT gateway advertises priority 0,
   * so a backup takes over at once, without waiting for missed adverts), wait until a peer is master,
   * then clear the fault; without preemption we stay backup.
   */
  async handover(): Promise<{ from: string; role: string }> {
    if (this.roles.role !== "master") throw new AppError("conflict", `${this.config.gateway.name} is not master (it is ${this.roles.role})`);
    this.health.set("handover", true);
    try {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const states = await Promise.allSettled(this.peerClients.map((peer) => peer.state()));
        if (states.some((s) => s.status === "fulfilled" && s.value.role === "master")) break;
        if (Date.now() > deadline) throw new AppError("not-ready", "no peer became master within 10 s; this gateway takes mastership back");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      this.health.set("handover", false);
    }
    // Cleared of the fault, keepalived moves to BACKUP within an advert or two (nopreempt keeps it there).
    for (let i = 0; i < 40 && (this.roles.role as string) !== "backup"; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    return { from: this.config.gateway.name, role: this.roles.role };
  }

  async stop(): Promise<void> {
    this.replicator.stop();
    this.peerTransport.close();
    this.peerCredentials.stop();
    this.roles.stop();
    await this.keepalived.stop();
    await this.conntrackd.stop();
  }
}
