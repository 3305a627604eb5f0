import { existsSync } from "node:fs";
import { NeighbourManager } from "../../kernel/neighbours.js";
import { batch } from "../../nft/json.js";
import { NftClient } from "../../nft/nft-client.js";
import { ExecaRunner, type CommandRunner } from "../../system/runner.js";
import { DEFAULT_CONFIG } from "../connection.js";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../../terminal/io.js";
import { readLocalDesired, renderedKeepalived, renderedNft } from "../local-state.js";
import { diffNft, formatNftDifferences, renderNftText } from "../nft-text.js";
import { printJson } from "../../terminal/output.js";

export const SHOW_USAGE = `usage:
  egw show nft [--diff] [--config FILE] [--json]
  egw show keepalived [--diff] [--config FILE] [--json]
  Renders what the daemon would apply, from its config (default ${DEFAULT_CONFIG}) and a read-only view of
  its store, without asking the daemon. --diff compares it with what is live: the nftables table in the
  kernel (nft -j list table), or keepalived's config file on disk. Exit status, as diff(1): 0 no
  differences, 1 differences found, 2 trouble (78: the config is invalid).
  Run it where the daemon runs (root, same network namespace).`;

/** `show` only reads: the live table, the neighbours and a diff of keepalived's file. */
const runner: CommandRunner = new ExecaRunner();

export const OPTIONS = {
  config: { type: "string" },
  diff: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
} as const;

export async function showCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: [what, ...rest] } = parseCommandArgs(args, OPTIONS, SHOW_USAGE);
  positionals(rest, [], SHOW_USAGE);
  const configPath = values.config ?? DEFAULT_CONFIG;
  if (what === "nft") return showNft(io, configPath, values.diff, values.json);
  if (what === "keepalived") return showKeepalived(io, configPath, values.diff, values.json);
  throw new UsageError(what === undefined ? "show what? nft or keepalived" : `unknown thing to show ${JSON.stringify(what)}`, SHOW_USAGE);
}

async function showNft(io: CliIo, configPath: string, diff: boolean, json: boolean): Promise<number> {
  const { config, desired } = readLocalDesired(configPath);
  // Only the live comparison needs the next hops' MACs: the bound_* sets are built from the kernel's neighbours.
  const macs = diff && config.dataplane.sourceBinding === "next-hop"
    ? new Map([...(await new NeighbourManager(runner, config.network.inside.interface).list())].map(([address, n]) => [address, n.mac]))
    : new Map<string, string | undefined>();
  const { state, commands } = renderedNft(config, desired, macs);
  const table = config.dataplane.nftTable;
  if (!diff) {
    if (json) printJson(io, { revision: desired.revision, table: `inet ${table}`, batch: batch(commands) });
    else io.stdout(`# rendered from store revision ${desired.revision} (${configPath})\n${renderNftText(commands, state)}`);
    return 0;
  }
  const live = await new NftClient(runner).readTable(table);
  const differences = diffNft(state, live);
  if (json) {
    printJson(io, { revision: desired.revision, table: `inet ${table}`, inSync: differences.length === 0, differences });
  } else if (differences.length === 0) {
    io.stdout(`no differences: the live table inet ${table} matches store revision ${desired.revision}\n`);
  } else {
    io.stdout(`--- live:     nft -j list table inet ${table}\n+++ rendered: store revision ${desired.revision} (${configPath})\n`);
    io.stdout(formatNftDifferences(differences));
    io.stdout(`${differences.length} difference(s). The daemon repairs drift every dataplane.driftCheckIntervalMs (${config.dataplane.driftCheckIntervalMs} ms);\n` +
      "if they persist, see the last apply in `egw status`.\n");
  }
  return differences.length === 0 ? 0 : 1;
}

async function showKeepalived(io: CliIo, configPath: string, diff: boolean, json: boolean): Promise<number> {
  const { config, desired } = readLocalDesired(configPath);
  const rendered = renderedKeepalived(config, desired);
  if (!rendered) {
    if (json) printJson(io, { ha: false });
    else io.stdout(`${configPath} has no ha section: this gateway runs alone and does not use keepalived\n`);
    return 0;
  }
  if (!diff) {
    if (json) printJson(io, { revision: desired.revision, path: rendered.path, text: rendered.text });
    else io.stdout(rendered.text);
    return 0;
  }
  const exists = existsSync(rendered.path);
  // diff(1) exits 1 when the files differ: an answer, not a failure.
  const result = await runner.run("diff", ["-u", "--label", `${rendered.path} (live)`, "--label", `rendered (store revision ${desired.revision})`,
    exists ? rendered.path : "/dev/null", "-"], { input: rendered.text, okExitCodes: [1] });
  const same = result.exitCode === 0;
  if (json) printJson(io, { revision: desired.revision, path: rendered.path, exists, inSync: same, diff: result.stdout });
  else if (same) io.stdout(`no differences: ${rendered.path} matches store revision ${desired.revision}\n`);
  else io.stdout(`${result.stdout}${exists ? "" : `(${rendered.path} does not exist)\n`}`);
  return same ? 0 : 1;
}
