import { parseArgs } from "node:util";
import { AppError } from "../errors.js";
import { loadConfig } from "../config/load.js";
import { createLogger } from "../log.js";
import { Daemon } from "../daemon.js";
import { renderConfigReference } from "./config-reference.js";
import { backupCommand, BACKUP_USAGE } from "./commands/backup.js";
import { clustersCommand, CLUSTERS_USAGE } from "./commands/clusters.js";
import { doctorCommand, DOCTOR_USAGE } from "./commands/doctor.js";
import { egressIpsCommand, EGRESS_IPS_USAGE } from "./commands/egress-ips.js";
import { mappingsCommand, MAPPINGS_USAGE } from "./commands/mappings.js";
import { peerCertCommand, PEER_CERT_USAGE } from "./commands/peer-cert.js";
import { floorCommand, FLOOR_USAGE, policyCommand, POLICY_USAGE } from "./commands/policy.js";
import { portsCommand, PORTS_USAGE } from "./commands/ports.js";
import { restoreCommand, RESTORE_USAGE } from "./commands/restore.js";
import { showCommand, SHOW_USAGE } from "./commands/show.js";
import { handoverCommand, HANDOVER_USAGE, statusCommand, STATUS_USAGE } from "./commands/status.js";
import { tokensCommand, TOKENS_USAGE } from "./commands/tokens.js";
import { traceCommand, TRACE_USAGE } from "./commands/trace.js";
import { processIo, UsageError, type CliIo } from "../terminal/io.js";
import { renderOpenApi } from "./openapi.js";
import { reportError } from "./report-error.js";
import { versionText } from "./version-text.js";

const USAGE = `usage: egw COMMAND [ARGS]   (egw COMMAND --help for details)

the daemon:
  serve --config FILE                      run the daemon
  check-config --config FILE               validate a config file and exit
  config-reference                         print the config file reference (Markdown)
  openapi [--format json|markdown]         print the API reference
  peer-cert NAME [--out DIR]               create this gateway's replication certificate and key (HA)
  backup [--directory DIR | --output FILE] a consistent copy of the store, while the daemon runs
  restore FILE [--force]                   install a backup as the store (the daemon stopped)
  version, --version                       print egw's version and its replication protocol versions

operating a gateway (talks to the local API; see docs/cli.md):
  status                                   role, revisions, peers, last apply, warnings
  egress-ips list|add|update|delete        egress IPs (admin)
  clusters list|show|create|update|delete  clusters, their source ranges and egress IPs (admin)
  mappings list|apply|delete               a cluster's mappings (source CIDR → egress IP)
  policy show|apply|delete|events          a mapping's or cluster's egress policy (where pods may connect)
  floor show|apply|delete                  what no policy may allow, globally or per cluster (admin)
  tokens list|issue|revoke                 cluster tokens (admin)
  ports [EGRESS_IP] [--top N]              source ports in use per egress IP and destination (exhaustion)
  show nft|keepalived [--diff]             what the daemon renders, and how it differs from what is live
  handover                                 hand VRRP mastership to a peer gracefully
  trace EGRESS_IP:PORT [--at TIME]         which pod held that egress IP and port then (the translation log)
  doctor                                   check this host: sysctls, tools, conntrack, clock, config

the lab (root, network namespaces on this machine; see docs/lab.md):
  lab up|demo|status|fail|restore|down     two gateways, a node with pods and a server, end to end`;

type Command = { run: (args: string[], io: CliIo) => Promise<number>; usage: string };

const COMMANDS: Record<string, Command> = {
  status: { run: statusCommand, usage: STATUS_USAGE },
  "egress-ips": { run: egressIpsCommand, usage: EGRESS_IPS_USAGE },
  clusters: { run: clustersCommand, usage: CLUSTERS_USAGE },
  mappings: { run: mappingsCommand, usage: MAPPINGS_USAGE },
  tokens: { run: tokensCommand, usage: TOKENS_USAGE },
  ports: { run: portsCommand, usage: PORTS_USAGE },
  policy: { run: policyCommand, usage: POLICY_USAGE },
  floor: { run: floorCommand, usage: FLOOR_USAGE },
  show: { run: showCommand, usage: SHOW_USAGE },
  handover: { run: handoverCommand, usage: HANDOVER_USAGE },
  trace: { run: traceCommand, usage: TRACE_USAGE },
  doctor: { run: (args, io) => doctorCommand(args, io), usage: DOCTOR_USAGE },
  "peer-cert": { run: peerCertCommand, usage: PEER_CERT_USAGE },
  backup: { run: backupCommand, usage: BACKUP_USAGE },
  restore: { run: restoreCommand, usage: RESTORE_USAGE },
};

/** Every egw command but `lab`, which bin/dispatch.ts hands to the lab: the appliance knows nothing of its test lab. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const operator = command === undefined ? undefined : COMMANDS[command];
    if (operator) {
      if (rest.includes("--help") || rest.includes("-h")) {
        io.stdout(`${operator.usage}\n`);
        return 0;
      }
      return await operator.run(rest, io);
    }
    return await daemonCommand(command, rest, io);
  } catch (error) {
    return reportError(io, error);
  }
}

async function daemonCommand(command: string | undefined, rest: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: rest, options: { config: { type: "string" }, format: { type: "string", default: "json" } }, allowPositionals: false });
  switch (command) {
    case "serve":
      return await serve(requireConfigPath(values.config));
    case "check-config":
      loadConfig(requireConfigPath(values.config));
      io.stdout("config is valid\n");
      return 0;
    case "openapi":
      io.stdout(renderOpenApi(values.format === "markdown" ? "markdown" : "json"));
      return 0;
    case "config-reference":
      io.stdout(renderConfigReference());
      return 0;
    case "version":
    case "--version":
      io.stdout(versionText());
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      io.stdout(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`, USAGE);
  }
}

function requireConfigPath(path: string | undefined): string {
  if (!path) throw new AppError("config-invalid", "--config FILE is required");
  return path;
}

async function serve(configPath: string): Promise<number> {
  const config = loadConfig(configPath);
  const log = createLogger(config.log.level);
  const daemon = new Daemon(config, log);
  // Nothing may crash the daemon: a stray rejection is logged, not fatal.
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection"));
  try {
    await daemon.start();
  } catch (error) {
    // A half-started daemon (one listener open, another failed) must not linger: stop what started.
    log.fatal({ err: error }, "start failed");
    await daemon.stop().catch(() => undefined);
    throw error;
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, "shutting down");
      resolve();
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGHUP", () => {
      log.info({ signal: "SIGHUP" }, "reloading TLS certificates");
      daemon.reloadCredentials();
    });
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  await daemon.stop();
  return 0;
}
