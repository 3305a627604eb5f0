import type { ParseArgsConfig } from "node:util";
import { backupCommand, BACKUP_USAGE, OPTIONS as BACKUP_OPTIONS } from "./commands/backup.js";
import { clustersCommand, CLUSTERS_USAGE, OPTIONS as CLUSTERS_OPTIONS } from "./commands/clusters.js";
import {
  checkConfigCommand, CHECK_CONFIG_OPTIONS, CHECK_CONFIG_USAGE, configReferenceCommand, CONFIG_REFERENCE_USAGE, OPENAPI_FORMATS,
  OPENAPI_OPTIONS, OPENAPI_USAGE, openapiCommand, serveCommand, SERVE_OPTIONS, SERVE_USAGE, versionCommand, VERSION_USAGE,
} from "./commands/daemon.js";
import { doctorCommand, DOCTOR_USAGE } from "./commands/doctor.js";
import { egressIpsCommand, EGRESS_IPS_USAGE, OPTIONS as EGRESS_IPS_OPTIONS } from "./commands/egress-ips.js";
import { mappingsCommand, MAPPINGS_USAGE, OPTIONS as MAPPINGS_OPTIONS } from "./commands/mappings.js";
import { peerCertCommand, PEER_CERT_USAGE, OPTIONS as PEER_CERT_OPTIONS } from "./commands/peer-cert.js";
import { floorCommand, FLOOR_USAGE, policyCommand, POLICY_USAGE, OPTIONS as POLICY_OPTIONS } from "./commands/policy.js";
import { portsCommand, PORTS_USAGE, OPTIONS as PORTS_OPTIONS } from "./commands/ports.js";
import { restoreCommand, RESTORE_USAGE, OPTIONS as RESTORE_OPTIONS } from "./commands/restore.js";
import { routesCommand, ROUTES_OPTIONS, ROUTES_USAGE } from "./commands/routes.js";
import { showCommand, SHOW_USAGE, OPTIONS as SHOW_OPTIONS } from "./commands/show.js";
import { handoverCommand, HANDOVER_USAGE, statusCommand, STATUS_USAGE } from "./commands/status.js";
import { tokensCommand, TOKENS_USAGE, OPTIONS as TOKENS_OPTIONS } from "./commands/tokens.js";
import { traceCommand, TRACE_USAGE, OPTIONS as TRACE_OPTIONS } from "./commands/trace.js";
import { uiCommand, UI_OPTIONS, UI_USAGE } from "./commands/ui.js";
import { bashCompletion, type CompletionSpec } from "./completion.js";
import { CONNECTION_OPTIONS } from "./connection.js";
import { parseCommandArgs, positionals, processIo, UsageError, type CliIo } from "../terminal/io.js";
import { reportError } from "./report-error.js";
import { versionText } from "./version-text.js";

const USAGE = `usage: egw COMMAND [ARGS]   (egw COMMAND --help for details; --version anywhere prints the version)

the daemon:
  serve --config FILE                      run the daemon
  check-config --config FILE               validate a config file and exit
  config-reference                         print the config file reference (Markdown)
  openapi [--format json|yaml|markdown]    print the API reference
  peer-cert NAME [--out DIR]               create this gateway's replication certificate and key (HA)
  backup [--directory DIR | --output FILE] a consistent copy of the store, while the daemon runs
  restore FILE [--force]                   install a backup as the store (the daemon stopped)
  version, --version                       print egw's version and its replication protocol versions
  completion bash                          print the bash completion script

operating a gateway (talks to the local API; see docs/cli.md):
  status                                   role, revisions, peers, last apply, warnings
  egress-ips list|add|update|delete        egress IPs (admin)
  clusters list|show|create|update|delete  clusters, their source ranges and egress IPs (admin)
  mappings list|apply|delete               a cluster's mappings (source CIDR → egress IP)
  routes list|apply|add|delete             a cluster's routes (pod CIDR via a node)
  policy show|apply|delete|events          a mapping's or cluster's egress policy (where pods may connect)
  floor show|apply|delete                  what no policy may allow, globally or per cluster (admin)
  tokens list|issue|revoke                 cluster tokens (admin)
  ports [EGRESS_IP] [--top N]              source ports in use per egress IP and destination (exhaustion)
  show nft|keepalived [--diff]             what the daemon renders, and how it differs from what is live
  handover                                 hand VRRP mastership to a peer gracefully
  trace EGRESS_IP:PORT [--at TIME]         which pod held that egress IP and port then (the translation log)
  doctor                                   check this host: sysctls, tools, conntrack, clock, config
  ui [--listen HOST:PORT]                  the status page on loopback, for a daemon on its unix socket only

the lab (root, network namespaces on this machine; see docs/lab.md):
  lab up|demo|status|fail|restore|down     two gateways, a node with pods and a server, end to end

exit status: 0 done (no differences); 1 differences found (show --diff, doctor); 2 trouble (an error, a
refusal, a usage mistake); 78 an invalid config (see docs/cli.md)`;

const COMPLETION_USAGE = `usage: egw completion bash
  Prints the bash completion script (commands, subcommands, options, files after the options that take one).
  The Debian package installs it as /usr/share/bash-completion/completions/egw; elsewhere: source <(egw completion bash)`;

type Options = NonNullable<ParseArgsConfig["options"]>;
export interface Command extends CompletionSpec {
  run: (args: string[], io: CliIo) => Promise<number>;
  usage: string;
  options: Options;
}

const NO_OPTIONS = {} as const;

/** Every egw command but `lab` (bin/dispatch.ts) and `completion` (below, which needs the whole table). */
export const COMMANDS: Record<string, Command> = {
  serve: { run: (args) => serveCommand(args), usage: SERVE_USAGE, options: SERVE_OPTIONS },
  "check-config": { run: checkConfigCommand, usage: CHECK_CONFIG_USAGE, options: CHECK_CONFIG_OPTIONS },
  "config-reference": { run: configReferenceCommand, usage: CONFIG_REFERENCE_USAGE, options: NO_OPTIONS },
  openapi: { run: openapiCommand, usage: OPENAPI_USAGE, options: OPENAPI_OPTIONS },
  version: { run: versionCommand, usage: VERSION_USAGE, options: NO_OPTIONS },
  status: { run: statusCommand, usage: STATUS_USAGE, options: CONNECTION_OPTIONS },
  "egress-ips": { run: egressIpsCommand, usage: EGRESS_IPS_USAGE, options: EGRESS_IPS_OPTIONS },
  clusters: { run: clustersCommand, usage: CLUSTERS_USAGE, options: CLUSTERS_OPTIONS },
  mappings: { run: mappingsCommand, usage: MAPPINGS_USAGE, options: MAPPINGS_OPTIONS },
  routes: { run: routesCommand, usage: ROUTES_USAGE, options: ROUTES_OPTIONS },
  tokens: { run: tokensCommand, usage: TOKENS_USAGE, options: TOKENS_OPTIONS },
  ports: { run: portsCommand, usage: PORTS_USAGE, options: PORTS_OPTIONS },
  policy: { run: policyCommand, usage: POLICY_USAGE, options: POLICY_OPTIONS },
  floor: { run: floorCommand, usage: FLOOR_USAGE, options: POLICY_OPTIONS },
  show: { run: showCommand, usage: SHOW_USAGE, options: SHOW_OPTIONS },
  handover: { run: handoverCommand, usage: HANDOVER_USAGE, options: CONNECTION_OPTIONS },
  trace: { run: traceCommand, usage: TRACE_USAGE, options: TRACE_OPTIONS },
  ui: { run: uiCommand, usage: UI_USAGE, options: UI_OPTIONS },
  doctor: { run: (args, io) => doctorCommand(args, io), usage: DOCTOR_USAGE, options: CONNECTION_OPTIONS },
  "peer-cert": { run: peerCertCommand, usage: PEER_CERT_USAGE, options: PEER_CERT_OPTIONS },
  backup: { run: backupCommand, usage: BACKUP_USAGE, options: BACKUP_OPTIONS },
  restore: { run: restoreCommand, usage: RESTORE_USAGE, options: RESTORE_OPTIONS },
};

/**
 * Every egw command but `lab`, which bin/dispatch.ts hands to the lab: the appliance knows nothing of its test lab
 * (the entry point passes the lab's words in `more`, for the completion script).
 */
export async function main(argv: string[], io: CliIo = processIo, more: Record<string, CompletionSpec> = {}): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || (command === "help" && rest.length === 0) || command === "--help" || command === "-h") {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    if (command === "--version") return await COMMANDS["version"]!.run(rest, io);
    if (command === "help") return helpOn(rest, io);
    if (command === "completion") return completionCommand(rest, io, more);
    const operator = COMMANDS[command];
    if (!operator) throw new UsageError(`unknown command ${JSON.stringify(command)}`, USAGE);
    // --help and --version win over everything else on the line, as in most tools: asking for usage is never a mistake.
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout(`${operator.usage}\n`);
      return 0;
    }
    if (rest.includes("--version")) {
      io.stdout(versionText());
      return 0;
    }
    return await operator.run(rest, io);
  } catch (error) {
    return reportError(io, error);
  }
}

/** `egw help COMMAND`: that command's usage. */
function helpOn(rest: string[], io: CliIo): number {
  const [name = ""] = positionals(rest, ["COMMAND"], USAGE);
  const usage = name === "completion" ? COMPLETION_USAGE : COMMANDS[name]?.usage;
  if (usage === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`, USAGE);
  io.stdout(`${usage}\n`);
  return 0;
}

function completionCommand(rest: string[], io: CliIo, more: Record<string, CompletionSpec>): number {
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(`${COMPLETION_USAGE}\n`);
    return 0;
  }
  if (rest.includes("--version")) {
    io.stdout(versionText());
    return 0;
  }
  const { positionals: pos } = parseCommandArgs(rest, NO_OPTIONS, COMPLETION_USAGE);
  const [shell = ""] = positionals(pos, ["SHELL"], COMPLETION_USAGE);
  if (shell !== "bash") throw new UsageError(`no completion for ${JSON.stringify(shell)}: only bash`, COMPLETION_USAGE);
  const all: Record<string, CompletionSpec> = { ...COMMANDS, ...more, completion: { usage: COMPLETION_USAGE, options: NO_OPTIONS } };
  io.stdout(bashCompletion(all, { openapi: OPENAPI_FORMATS }));
  return 0;
}
