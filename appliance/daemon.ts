import { dirname, join } from "node:path";
import type { Server } from "node:net";
import type { Logger } from "pino";
import { createApp } from "../api/app.js";
import type { ApiDeps } from "../api/context.js";
import { createMetricsApp } from "../api/metrics-app.js";
import { createPeerApp } from "../api/peer-app.js";
import { readAdminToken, readAdminTokens } from "./config/load.js";
import { reservedAddresses } from "./config/reserved.js";
import type { Config } from "./config/schema.js";
import { HaMode } from "./ha/ha-mode.js";
import { listenApi, listenPeer, type ApiTls } from "./http/servers.js";
import { EgressAddressManager, listAddresses } from "./kernel/addresses.js";
import { FailClosedRules } from "./kernel/fail-closed.js";
import { ForwardingSwitch } from "./kernel/forwarding.js";
import { NeighbourManager } from "./kernel/neighbours.js";
import { RouteManager } from "./kernel/routes.js";
import { createMetrics } from "./metrics.js";
import { HeapRelief } from "./heap-relief.js";
import { egressCountersOf, guardCountersOf, NftClient } from "./nft/nft-client.js";
import { CachedReading } from "./cached-reading.js";
import { rulesetOptions } from "./nft/ruleset-options.js";
import { MIGRATIONS_DIR } from "./paths.js";
import { dataplaneRevision, egressIpAddresses, readDesiredState, readMappingChanges, snapshotsTaken } from "./reconcile/desired-state.js";
import { KernelWatch } from "./reconcile/kernel-watch.js";
import { ReconcileLoop } from "./reconcile/loop.js";
import { Reconciler } from "./reconcile/reconciler.js";
import { InterfaceOwnAddresses } from "./service/interface-addresses.js";
import { statusView } from "./status-view.js";
import { startAuditRetention } from "./store/audit-retention.js";
import { checkIntegrity, openDatabase, type Db } from "./store/database.js";
import { migrate, readMigrations } from "./store/migrate.js";
import { ownedAddressLedger } from "./store/owned-address-ledger.js";
import * as reads from "./store/reads.js";
import { StorageHealth } from "./store/storage-health.js";
import { Store } from "./store/store.js";
import { notifySystemd, startWatchdog } from "./system/notify.js";
import { errorMessage } from "./errors.js";
import type { NetfilterTransactions } from "./system/netlink.js";
import { hostSystem, type System } from "./system/system.js";
import { readConntrackStats } from "./kernel/conntrack-stats.js";
import { TranslationLog } from "./translations/translation-log.js";
import { PolicyNames } from "./egress-policy/policy-names.js";
import { PolicyLog } from "./egress-policy/policy-log.js";
import { mappingAttribution } from "./egress-policy/mapping-attribution.js";
import { effectivePolicies, policyNames } from "./service/policies.js";
import { WatchedCredentials } from "./tls/watched-credentials.js";
import { egwVersion } from "./version.js";

export interface DaemonOptions {
  /** The machine: the real one unless a test hands in its fake (test/helpers/fake-system.ts). */
  system?: System;
}

/**
 * The composition root: it builds the parts and wires them, and decides nothing itself (each policy lives with
 * its subject: forwarding in kernel/forwarding.ts, the fault policy in ha/, the status in status-view.ts). The
 * constructor only assigns; start() opens the store, applies the data plane and opens the listeners; stop()
 * closes them and the store but leaves the kernel state in force, so a restart or upgrade never interrupts
 * traffic.
 */
export class Daemon {
  private db: Db | undefined;
  private ha: HaMode | undefined;
  private translationLog: TranslationLog | undefined;
  private policyNames: PolicyNames | undefined;
  private policyLog: PolicyLog | undefined;
  private loop: ReconcileLoop | undefined;
  private watch: KernelWatch | undefined;
  private servers: Server[] = [];
  private credentials: WatchedCredentials | undefined;
  private auditRetention: { stop(): void } | undefined;
  private watchdog: { stop(): void } | undefined;
  private netfilter: NetfilterTransactions | undefined;
  private readonly warnings: string[] = [];
  private chosenSystem: System | undefined;

  constructor(private readonly config: Config, private readonly log: Logger, private readonly options: DaemonOptions = {}) {}

  async start(): Promise<void> {
    const { config, log } = this;
    const { runner, files, sysctls, streams } = this.system;
    const warn = (warning: string) => {
      log.warn(warning);
      this.warnings.push(warning);
    };
    log.info({ version: egwVersion(), node: process.version, gateway: config.gateway.name }, "egw starting");

    const db = openDatabase(config.database.path, files);
    this.db = db;
    checkIntegrity(db, config.database.path);
    const { applied } = migrate(db, readMigrations(MIGRATIONS_DIR));
    if (applied.length > 0) log.info({ applied }, "database migrated");
    const store = new Store(db, config.ha ? config.gateway.name : undefined);
    const storage = new StorageHealth(config.database.path, { minFreeBytes: config.database.minFreeBytes });
    store.on("writeResult", (error) => storage.recordWrite(error));
    this.auditRetention = startAuditRetention(db, config.audit, log.child({ component: "audit-retention" }));
    const admin = readAdminTokens(config.api);
    admin.warnings.forEach(warn);

    const inside = config.network.inside.interface;
    const outside = config.network.outside.interface;
    const ledger = ownedAddressLedger(db, outside);
    const own = new InterfaceOwnAddresses(
      () => listAddresses(runner),
      reservedAddresses(config),
      // Egress IPs on an interface are ours, not the gateway's: the ledger's, or (with keepalived) all of them.
      config.ha ? () => reads.listEgressIps(db).map((ip) => ip.address) : ledger.list,
      inside,
    );
    await own.refresh();

    const ha = config.ha ? new HaMode({ config, ha: config.ha, store, runner, files, own, log: log.child({ component: "ha" }) }) : undefined;
    this.ha = ha;
    if (ha) await ha.start();

    // Before the data plane: a connection the first apply lets through is already recorded.
    const translationLog = config.translationLog.enabled
      ? new TranslationLog({
        config, system: this.system, log: log.child({ component: "translation-log" }),
        mappings: () => ({ revision: store.revision(), mappings: reads.listMappings(db) }),
      })
      : undefined;
    this.translationLog = translationLog;
    translationLog?.start();

    const nft = new NftClient(runner);
    const ruleset = rulesetOptions(config);
    let countLookup: (outcome: "answer" | "failed") => void = () => undefined;
    const names = new PolicyNames(config.policy.dns, { files, path: join(dirname(config.database.path), "policy-names.json") },
      log.child({ component: "policy-dns" }), (outcome) => countLookup(outcome));
    this.policyNames = names;
    const policyLog = config.policy.log.enabled
      ? new PolicyLog({
        settings: config.policy.log, files, directory: join(dirname(config.database.path), "policy-log"), generatedFor: config.gateway.name,
        attribute: mappingAttribution({ revision: () => store.revision(), mappings: () => reads.listMappings(db) }),
        log: log.child({ component: "policy-log" }),
      })
      : undefined;
    this.policyLog = policyLog;
    await policyLog?.start();
    this.netfilter = config.dataplane.elementChanges === "netlink" ? openNetfilter(this.system, warn) : undefined;
    const reconciler = new Reconciler({
      readDesired: () => readDesiredState(db),
      readRevisions: () => ({ store: store.revision(), dataplane: dataplaneRevision(db), egressIps: egressIpAddresses(db), snapshots: snapshotsTaken(db) }),
      readMappingChanges: (since, limit) => readMappingChanges(db, since, limit),
      nft,
      // The daemon runs in the gateway's network namespace: its socket and its nft act on the same tables.
      netfilter: this.netfilter,
      routes: new RouteManager(runner, config.dataplane.routeProtocol, inside),
      neighbours: ruleset.sourceBinding === "next-hop" ? new NeighbourManager(runner, inside) : undefined,
      failClosed: new FailClosedRules(runner, { insideInterface: inside, mark: config.dataplane.failClosed.mark, priority: config.dataplane.failClosed.rulePriority }),
      // In a group keepalived moves the egress IPs; the daemon never assigns them itself.
      addresses: config.dataplane.manageEgressAddresses && !ha ? { manager: new EgressAddressManager(runner, outside), ledger } : undefined,
      vrrp: ha && { converge: (egressIps) => ha.keepalived.converge(ha.view(egressIps)) },
      ruleset,
      policyNames: names,
      log: log.child({ component: "reconciler" }),
    });
    const loop = new ReconcileLoop(reconciler, config.dataplane, log.child({ component: "reconcile-loop" }));
    this.loop = loop;
    const forwarding = new ForwardingSwitch(sysctls, { manage: config.dataplane.manageSysctls, ha: ha !== undefined, outsideInterface: outside }, warn);

    // One scrape asks for three views of the same counters; nft 1.0.6 lists every set element before it lists
    // counters (seconds at 100k mappings), so they share one reading.
    const counters = new CachedReading(() => nft.readCounters(ruleset.table), COUNTER_READING_MAX_AGE_MS);
    const metrics = createMetrics({
      storeRevision: () => store.revision(),
      appliedRevision: () => loop.appliedRevision,
      counts: () => reads.countAll(db),
      egressCounters: async () => egressCountersOf(await counters.get(), reads.listEgressIps(db).map((ip) => ip.address)),
      guardDrops: async () => guardCountersOf(await counters.get()),
      policy: {
        counters: () => counters.get(),
        governed: () => effectivePolicies(db),
        floors: () => reads.listFloors(db),
        names: () => names.status(),
      },
      ...(policyLog ? { policyLog: { status: () => policyLog.status() } } : {}),
      ...(ha ? { ha: { gateway: config.gateway.name, role: () => ha.roles.role, confirmations: () => ha.replicator.confirmations() } } : {}),
      ...(translationLog ? {
        translationLog: { status: () => translationLog.status(), tally: () => translationLog.tally, conntrackStats: () => readConntrackStats(runner, sysctls) },
      } : {}),
    }, { kernelReadingMaxAgeMs: config.metrics.kernelReadingMaxAgeMs });
    const heapRelief = new HeapRelief();
    loop.onReport = (report) => {
      // Once the waiters' answers are made and their requests' frames are gone: a whole-set PUT's answer and
      // body are garbage by then too.
      setTimeout(() => heapRelief.afterBurst(), 0).unref();
      metrics.recordApply(report);
      ha?.onApplyReport(report);
      if (!report.ok) return;
      forwarding.applyDone();
      // Spawning `ip` costs more than a whole no-op pass: refresh only when the kernel actually changed.
      if (report.kind !== "none") void own.refresh().catch((error: unknown) => log.warn({ err: error }, "cannot list interface addresses"));
    };
    loop.onDrift = () => metrics.recordDrift();
    countLookup = (outcome) => metrics.recordDnsLookup(outcome);
    // The names follow the stored policies (API writes and replicated ones alike); a changed answer asks for a pass.
    names.onChange(() => loop.trigger());
    names.follow(policyNames(db));
    store.on("committed", () => {
      names.follow(policyNames(db));
      loop.trigger();
    });

    const ready = () => forwarding.on && loop.lastReport?.ok === true && storage.problem() === undefined;
    const appDeps: ApiDeps = {
      store,
      adminTokens: admin.tokens,
      own,
      dataplane: {
        appliedRevision: () => loop.appliedRevision,
        lastReport: () => loop.lastReport,
        waitForRevision: (revision, timeoutMs) => loop.waitForRevision(revision, timeoutMs),
        ready,
      },
      status: statusView({
        gateway: config.gateway.name,
        revision: () => store.revision(),
        appliedRevision: () => loop.appliedRevision,
        lastApply: () => loop.lastReport,
        applied: () => forwarding.on,
        ha,
        warnings: () => this.warnings,
        storageProblem: () => storage.problem(),
        ...(translationLog ? { translationLog } : {}),
        policyNames: () => names.status(),
      }),
      metrics: metrics.registry,
      recordRequest: (observation) => metrics.recordHttpRequest(observation),
      ...(ha ? { ha: ha.forApi() } : {}),
      ...(translationLog ? { translations: { gateway: config.gateway.name, query: (q) => translationLog.query(q) }, ports: translationLog.tally } : {}),
      policies: {
        counters: async () => new Map([...(await counters.get())].map(([name, value]) => [name, value.packets])),
        names: () => names.status(),
        events: (cluster) => (policyLog?.recent.ofCluster(cluster) ?? []).map((e) => ({
          at: new Date(e.atMs).toISOString(), verdict: e.verdict, cluster: e.cluster, mapping: e.mapping, source: e.source,
          destination: e.destination, protocol: e.protocol, destinationPort: e.destinationPort,
        })),
      },
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
      streams, loop, reconciler, table: ruleset.table, neighbourInterface: ruleset.sourceBinding === "next-hop" ? inside : undefined,
      log: log.child({ component: "kernel-watch" }),
    });
    this.watch.start();

    const credentials = new WatchedCredentials(log.child({ component: "tls" }));
    this.credentials = credentials;
    const tls = config.api.tls;
    const apiTls: ApiTls | undefined = tls && {
      credentials: credentials.open({ cert: tls.cert, key: tls.key, ca: tls.clientCa }, "api.tls"),
      requestClientCert: tls.clientCa !== undefined,
      requireClientCert: tls.requireClientCert,
    };
    for (const listen of config.api.listen) this.servers.push(await listenApi(app.fetch, listen, apiTls, files));
    if (config.metrics.listen.length > 0) {
      const token = config.metrics.tokenFile === undefined ? undefined : readAdminToken(config.metrics.tokenFile, "metrics token", "metrics.tokenFile");
      for (const warning of token?.warnings ?? []) log.warn(warning);
      const metricsApp = createMetricsApp({ registry: metrics.registry, token: token?.token, ready });
      for (const listen of config.metrics.listen) this.servers.push(await listenApi(metricsApp.fetch, listen, apiTls, files));
    }
    if (ha && config.ha) {
      const peerApp = createPeerApp(appDeps, app, { bodyLimitBytes: config.ha.replicationBodyLimitBytes, peerName: config.ha.peer.name });
      this.servers.push(await listenPeer(peerApp.fetch, {
        address: config.ha.syncLink.address, port: config.ha.ports.replication, peerName: config.ha.peer.name,
        credentials: credentials.watch(ha.peerCredentials, "ha.tls"),
      }, log.child({ component: "replication" })));
    }
    log.info({ gateway: config.gateway.name, version: egwVersion(), ...(ha ? { replicationProtocol: ha.protocol } : {}), listen: config.api.listen, revision: store.revision() }, "egw started");
    await notifySystemd(runner, "READY=1");
    this.watchdog = startWatchdog(runner);
  }

  async stop(): Promise<void> {
    await notifySystemd(this.system.runner, "STOPPING=1");
    this.watchdog?.stop();
    // A master hands its floating IPs to a healthy peer before it goes (systemctl stop, an upgrade's restart):
    // established connections move with conntrackd's state instead of waiting for missed adverts.
    await this.ha?.yieldMastership();
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.servers = [];
    this.credentials?.stop();
    this.auditRetention?.stop();
    await this.watch?.stop();
    await this.loop?.stop();
    this.netfilter?.close();
    await this.ha?.stop();
    await this.translationLog?.stop();
    this.policyNames?.stop();
    await this.policyLog?.stop();
    this.db?.close();
    this.log.info("egw stopped; the data plane stays in force");
  }

  /** Re-reads every TLS certificate and key (SIGHUP); the files are also watched for changes. */
  reloadCredentials(): void {
    this.credentials?.reload();
  }

  /** The machine, chosen once. */
  private get system(): System {
    this.chosenSystem ??= this.options.system ?? hostSystem(this.log.child({ component: "monitor" }));
    return this.chosenSystem;
  }
}

/** Callers share only a reading in flight (one scrape's families): a later caller, a policy read after traffic, reads anew. */
const COUNTER_READING_MAX_AGE_MS = 0;

/** The netlink socket for element changes; without one (no koffi binary for this machine, say) nft does them all. */
function openNetfilter(system: System, warn: (warning: string) => void): NetfilterTransactions | undefined {
  try {
    return system.netfilter?.();
  } catch (error) {
    warn(`element changes go through nft: no nf_tables netlink socket (${errorMessage(error)})`);
    return undefined;
  }
}
