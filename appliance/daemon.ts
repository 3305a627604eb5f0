import type { Server } from "node:net";
import type { Logger } from "pino";
import { API_VERSION, createApp } from "../api/app.js";
import type { ApiDeps } from "../api/context.js";
import { createMetricsApp } from "../api/metrics-app.js";
import { createPeerApp } from "../api/peer-app.js";
import { readAdminToken, readAdminTokens } from "./config/load.js";
import type { Config } from "./config/schema.js";
import { HaMode } from "./ha/ha-mode.js";
import { listenApi, listenPeer, type ApiTls } from "./http/servers.js";
import { EgressAddressManager, listAddresses } from "./kernel/addresses.js";
import { FailClosedRules } from "./kernel/fail-closed.js";
import { NeighbourManager } from "./kernel/neighbours.js";
import { RouteManager } from "./kernel/routes.js";
import { ensureSysctls } from "./kernel/sysctl.js";
import { createMetrics } from "./metrics.js";
import { counterName } from "./nft/state.js";
import { NftClient } from "./nft/nft-client.js";
import { rulesetOptions } from "./nft/ruleset-options.js";
import { MIGRATIONS_DIR } from "./paths.js";
import { dataplaneRevision, readDesiredState } from "./reconcile/desired-state.js";
import { KernelWatch } from "./reconcile/kernel-watch.js";
import { ReconcileLoop } from "./reconcile/loop.js";
import { Reconciler } from "./reconcile/reconciler.js";
import { InterfaceOwnAddresses } from "./service/interface-addresses.js";
import { checkIntegrity, openDatabase, type Db } from "./store/database.js";
import { migrate, readMigrations } from "./store/migrate.js";
import * as reads from "./store/reads.js";
import * as rows from "./store/rows.js";
import { startAuditRetention } from "./store/audit-retention.js";
import { StorageHealth } from "./store/storage-health.js";
import { Store } from "./store/store.js";
import type { CommandRunner } from "./system/runner.js";
import { hostSystem, type System } from "./system/system.js";
import { ReloadableCredentials } from "./tls/credentials.js";

export interface DaemonOptions {
  /** The machine: the real one unless a test hands in its fake (test/helpers/fake-system.ts). */
  system?: System;
}

/**
 * The daemon's lifecycle. The constructor only assigns; start() opens the store, applies the data plane
 * and opens the API; stop() closes the API and the store but leaves the kernel state in force, so a
 * restart or upgrade never interrupts traffic.
 */
export class Daemon {
  private db: Db | undefined;
  private ha: HaMode | undefined;
  private loop: ReconcileLoop | undefined;
  private watch: KernelWatch | undefined;
  private servers: Server[] = [];
  private credentials: ReloadableCredentials[] = [];
  private auditRetention: { stop(): void } | undefined;
  private warnings: string[] = [];
  private firstApplyDone = false;
  private chosenSystem: System | undefined;

  constructor(private readonly config: Config, private readonly log: Logger, private readonly options: DaemonOptions = {}) {}

  async start(): Promise<void> {
    const { config, log } = this;
    const runner = this.system.runner;
    const db = openDatabase(config.database.path);
    this.db = db;
    checkIntegrity(db, config.database.path);
    const { applied } = migrate(db, readMigrations(MIGRATIONS_DIR));
    if (applied.length > 0) log.info({ applied }, "database migrated");
    const store = new Store(db, config.ha ? config.gateway.name : undefined);
    const storage = new StorageHealth(config.database.path, { minFreeBytes: config.database.minFreeBytes });
    store.on("writeResult", (error) => storage.recordWrite(error));
    this.auditRetention = startAuditRetention(db, config.audit, log.child({ component: "audit-retention" }));
    const admin = readAdminTokens(config.api);
    this.warnings.push(...admin.warnings);
    for (const warning of this.warnings) log.warn(warning);

    const outside = config.network.outside.interface;
    const ledger = {
      list: () => reads.listOwnedAddresses(db).filter((a) => a.interface === outside).map((a) => a.address),
      record: (address: string) => rows.recordOwnedAddress(db, address, outside),
      forget: (address: string) => rows.forgetOwnedAddress(db, address, outside),
    };
    const own = new InterfaceOwnAddresses(
      () => listAddresses(runner),
      // The group's VIPs are the gateway's own addresses too, whichever gateway holds them right now.
      [...config.network.reservedAddresses, ...(config.ha?.insideVips.map((vip) => vip.split("/")[0] as string) ?? [])],
      // Egress IPs on an interface are ours, not the gateway's: the ledger's, or (with keepalived) all of them.
      config.ha ? () => reads.listEgressIps(db).map((ip) => ip.address) : ledger.list,
      config.network.inside.interface,
    );
    await own.refresh();

    const ha = config.ha ? new HaMode({ config, ha: config.ha, store, runner, files: this.system.files, own, log: log.child({ component: "ha" }) }) : undefined;
    this.ha = ha;
    if (ha) await ha.start();

    const nft = new NftClient(runner);
    const inside = config.network.inside.interface;
    const ruleset = rulesetOptions(config);
    const reconciler = new Reconciler({
      readDesired: () => readDesiredState(db),
      readRevisions: () => ({ store: store.revision(), dataplane: dataplaneRevision(db) }),
      nft,
      routes: new RouteManager(runner, config.dataplane.routeProtocol, inside),
      neighbours: ruleset.sourceBinding === "next-hop" ? new NeighbourManager(runner, inside) : undefined,
      failClosed: new FailClosedRules(runner, { insideInterface: inside, mark: config.dataplane.failClosed.mark, priority: config.dataplane.failClosed.rulePriority }),
      // In a group keepalived moves the egress IPs; the daemon never assigns them itself.
      addresses: config.dataplane.manageEgressAddresses && !ha ? { manager: new EgressAddressManager(runner, outside), ledger } : undefined,
      vrrp: ha && { converge: (egressIps) => ha.keepalived.converge(ha.view(egressIps)) },
      ruleset,
      log: log.child({ component: "reconciler" }),
    });
    const loop = new ReconcileLoop(reconciler, config.dataplane, log.child({ component: "reconcile-loop" }));
    this.loop = loop;

    const metrics = createMetrics({
      storeRevision: () => store.revision(),
      appliedRevision: () => loop.appliedRevision,
      counts: () => reads.countAll(db),
      egressCounters: async () => {
        const values = await nft.readCounters(config.dataplane.nftTable);
        return reads.listEgressIps(db).flatMap((ip) => (["out", "in"] as const).map((direction) => ({
          address: ip.address, direction, ...(values.get(counterName(direction, ip.address)) ?? { packets: 0, bytes: 0 }),
        })));
      },
      guardDrops: () => nft.readGuardCounters(config.dataplane.nftTable),
    }, { kernelReadingMaxAgeMs: config.metrics.kernelReadingMaxAgeMs });
    loop.onReport = (report) => {
      metrics.recordApply(report);
      // Whether failing applies fault this gateway is the HA module's decision (appliance/ha/apply-health.ts).
      ha?.onApplyReport(report);
      if (report.ok) {
        // Forwarding goes on only once our table is in place: never a moment of untranslated forwarding.
        if (!this.firstApplyDone) this.enableForwarding(config);
        this.firstApplyDone = true;
        // Spawning `ip` costs more than a whole no-op pass: refresh only when the kernel actually changed.
        if (report.kind !== "none") void own.refresh().catch((error: unknown) => log.warn({ err: error }, "cannot list interface addresses"));
      }
    };
    loop.onDrift = () => metrics.recordDrift();
    store.on("committed", () => loop.trigger());

    const appDeps: ApiDeps = {
      store,
      adminTokens: admin.tokens,
      own,
      dataplane: {
        appliedRevision: () => loop.appliedRevision,
        lastReport: () => loop.lastReport,
        waitForRevision: (revision, timeoutMs) => loop.waitForRevision(revision, timeoutMs),
        ready: () => this.firstApplyDone && loop.lastReport?.ok === true && storage.problem() === undefined,
      },
      status: () => {
        const revision = store.revision();
        return {
          gateway: config.gateway.name,
          role: ha ? ha.roles.role : "standalone" as const,
          version: API_VERSION,
          revision,
          appliedRevision: loop.appliedRevision,
          inSync: this.firstApplyDone && loop.appliedRevision === revision,
          lastApply: loop.lastReport ?? null,
          peers: (ha?.replicator.peers() ?? []).map((peer) => {
            const seen = ha?.peerView.get(peer.name);
            return {
              name: peer.name, role: knownRole(seen?.role), appliedRevision: peer.revision ?? 0,
              inSync: peer.revision === revision, lastApply: seen?.lastApply ?? null, replication: peer.status,
            };
          }),
          warnings: [...this.warnings, ...(ha?.warnings() ?? []),
            ...[storage.problem()].filter((p): p is string => p !== undefined).map((p) => `storage: ${p}`)],
        };
      },
      metrics: metrics.registry,
      ...(ha ? {
        ha: {
          follower: ha.follower,
          isLeader: () => ha.replicator.isLeader(),
          leader: () => ha.leader(),
          probeLeader: () => ha.probeLeader(),
          replicate: (revision: number, kind: "write" | "revocation") => ha.replicator.replicate(revision, kind),
          handover: () => ha.handover(),
          revocationTimeoutMs: config.ha?.revocationTimeoutMs ?? 0,
        },
      } : {}),
      bodyLimitBytes: config.api.bodyLimitBytes,
      waitTimeoutMs: config.api.waitTimeoutMs,
      clusterQuotaDefaults: config.limits.clusterDefaults,
      rateLimit: config.api.rateLimit,
      authFailures: config.api.authFailures,
      log: log.child({ component: "api" }),
    };
    const app = createApp(appDeps);

    loop.start();
    this.watch = new KernelWatch({
      streams: this.system.streams,
      loop, reconciler, table: ruleset.table, neighbourInterface: ruleset.sourceBinding === "next-hop" ? inside : undefined,
      log: log.child({ component: "kernel-watch" }),
    });
    this.watch.start();
    const apiTls = this.apiTls();
    for (const listen of config.api.listen) this.servers.push(await listenApi(app.fetch, listen, apiTls));
    if (config.metrics.listen.length > 0) {
      const token = config.metrics.tokenFile === undefined ? undefined : readAdminToken(config.metrics.tokenFile, "metrics token", "metrics.tokenFile");
      for (const warning of token?.warnings ?? []) log.warn(warning);
      const metricsApp = createMetricsApp({ registry: metrics.registry, token: token?.token, ready: appDeps.dataplane.ready });
      for (const listen of config.metrics.listen) this.servers.push(await listenApi(metricsApp.fetch, listen, apiTls));
    }
    if (ha && config.ha) {
      const peerApp = createPeerApp(appDeps, app, { bodyLimitBytes: config.ha.replicationBodyLimitBytes, peerName: config.ha.peer.name });
      this.watchCredentials(ha.peerCredentials, "ha.tls");
      this.servers.push(await listenPeer(peerApp.fetch, {
        address: config.ha.syncLink.address, port: config.ha.ports.replication, peerName: config.ha.peer.name, credentials: ha.peerCredentials,
      }, log.child({ component: "replication" })));
    }
    log.info({ gateway: config.gateway.name, listen: config.api.listen, revision: store.revision() }, "egw started");
    await notifySystemd(runner, "READY=1");
  }

  private enableForwarding(config: Config): void {
    const warnings = ensureSysctls(this.system.sysctls, config.dataplane.manageSysctls, config.ha !== undefined);
    for (const warning of warnings) this.log.warn(warning);
    this.warnings.push(...warnings);
  }

  async stop(): Promise<void> {
    await notifySystemd(this.system.runner, "STOPPING=1");
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.servers = [];
    for (const credentials of this.credentials) credentials.stop();
    this.credentials = [];
    this.auditRetention?.stop();
    await this.watch?.stop();
    await this.loop?.stop();
    await this.ha?.stop();
    this.db?.close();
    this.log.info("egw stopped; the data plane stays in force");
  }

  /** The machine, chosen once. */
  private get system(): System {
    this.chosenSystem ??= this.options.system ?? hostSystem(this.log.child({ component: "monitor" }));
    return this.chosenSystem;
  }

  /** Re-reads every TLS certificate and key (SIGHUP); the files are also watched for changes. */
  reloadCredentials(): void {
    for (const credentials of this.credentials) credentials.reload();
  }

  private apiTls(): ApiTls | undefined {
    const tls = this.config.api.tls;
    if (!tls) return undefined;
    const credentials = new ReloadableCredentials({ cert: tls.cert, key: tls.key, ca: tls.clientCa }, "api.tls");
    credentials.load();
    this.watchCredentials(credentials, "api.tls");
    return { credentials, requestClientCert: tls.clientCa !== undefined, requireClientCert: tls.requireClientCert };
  }

  private watchCredentials(credentials: ReloadableCredentials, field: string): void {
    for (const warning of credentials.current.warnings) this.log.warn(warning);
    credentials.on("reloaded", (next) => {
      for (const warning of next.warnings) this.log.warn(warning);
      this.log.info({ field }, "TLS certificates reloaded");
    });
    credentials.on("failed", (error) => this.log.error({ err: error, field }, "TLS certificates not reloaded; the previous ones stay in use"));
    credentials.watch();
    this.credentials.push(credentials);
  }
}

const ROLES = ["master", "backup", "fault", "unknown"] as const;

/** A peer's role as it reported it, if it is one /v1/status knows. */
function knownRole(role: string | null | undefined): (typeof ROLES)[number] {
  return ROLES.find((r) => r === role) ?? "unknown";
}

/** systemd's notify protocol needs a datagram socket Node lacks; systemd-notify does it (NotifyAccess=all). */
async function notifySystemd(runner: CommandRunner, state: string): Promise<void> {
  if (!process.env["NOTIFY_SOCKET"]) return;
  await runner.run("systemd-notify", [state]).catch(() => undefined);
}
