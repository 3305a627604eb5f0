import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { AppError } from "../../errors.js";
import { loadConfig } from "../../config/load.js";
import { backupStore, type StoreSummary } from "../../store/backup.js";
import { hostCommandsAndFiles } from "../../system/system.js";
import type { SystemFiles } from "../../system/files.js";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../../terminal/io.js";
import { printJson } from "../../terminal/output.js";
import { DEFAULT_CONFIG } from "../connection.js";

export const DEFAULT_KEEP = 14;

export const BACKUP_USAGE = `usage:
  egw backup [--config FILE] [--directory DIR] [--keep N] [--json]
  egw backup [--config FILE] --output FILE [--json]
  Writes a consistent copy of the daemon's store (the SQLite database at database.path in the config, default
  ${DEFAULT_CONFIG}) while the daemon runs: SQLite's online backup through a read-only connection, so the
  daemon keeps taking writes and the live database is never written. The copy goes to a temporary file beside
  its destination, is checked (integrity_check, foreign_key_check), flushed to disk and renamed into place,
  mode 0600: a backup file is either whole and verified or absent.
  --directory DIR  write DIR/egw-YYYYMMDD-HHMMSSZ.db (UTC) and keep the newest N files so named there;
                   DIR is made (mode 0700) if missing. Default: backups/ beside the database
                   (/var/lib/egw/backups)
  --keep N         how many backups --directory keeps, this one included (default ${DEFAULT_KEEP})
  --output FILE    write FILE instead (an existing FILE is replaced once the new copy is verified); its
                   directory must exist; nothing is pruned
  --json           print what was written as JSON
  Run it as root or as the egw user: it reads the database and, being a reader beside the daemon (WAL), takes
  its locks in the database's -shm file. egw-backup.timer runs it daily. Restore with egw restore.`;

export const OPTIONS = {
  config: { type: "string" },
  directory: { type: "string" },
  output: { type: "string" },
  keep: { type: "string" },
  json: { type: "boolean", default: false },
} as const;

/** The names --directory writes and prunes: a UTC timestamp, and a counter when one second saw several. */
const BACKUP_NAME = /^egw-(\d{8})-(\d{6})Z(?:-(\d+))?\.db$/;

export async function backupCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs(args, OPTIONS, BACKUP_USAGE);
  positionals(pos, [], BACKUP_USAGE);
  if (values.output !== undefined && (values.directory !== undefined || values.keep !== undefined)) {
    throw new UsageError("--output writes one file: it takes neither --directory nor --keep", BACKUP_USAGE);
  }
  const keep = values.keep === undefined ? DEFAULT_KEEP : Number(values.keep);
  if (!Number.isInteger(keep) || keep < 1) throw new UsageError(`--keep must be a whole number, 1 or more, not ${JSON.stringify(values.keep)}`, BACKUP_USAGE);
  const configPath = values.config ?? DEFAULT_CONFIG;
  const databasePath = loadConfig(configPath).database.path;
  if (!existsSync(databasePath)) throw new AppError("not-found", `there is no database at ${databasePath} (database.path in ${configPath}): nothing to back up`);
  const { files } = hostCommandsAndFiles();

  let destination: string;
  let directory: string | undefined;
  if (values.output !== undefined) {
    destination = resolve(values.output);
    if (!existsSync(dirname(destination))) throw new AppError("not-found", `the directory of --output ${destination} does not exist`);
  } else {
    directory = resolve(values.directory ?? join(dirname(databasePath), "backups"));
    files.makeDirectory(directory, 0o700);
    destination = join(directory, backupName(new Date(), (name) => existsSync(join(directory as string, name))));
  }

  const summary = await backupStore(databasePath, destination, files);
  const removed = directory === undefined ? [] : pruneBackups(directory, keep, files);
  if (values.json) {
    printJson(io, { path: destination, database: databasePath, mode: "0600", integrity: "ok", ...summary, removed });
    return 0;
  }
  io.stdout(`wrote ${destination}: ${formatBytes(summary.bytes)}, mode 0600, integrity ok\n`);
  io.stdout(`${describeStore(summary)}\n`);
  if (removed.length > 0) io.stdout(`removed ${removed.length} older backup(s) beyond --keep ${keep}: ${removed.join(", ")}\n`);
  return 0;
}

/** "revision 42 (schema version 4): 2 clusters, …": what a backup holds, for people. */
export function describeStore(summary: StoreSummary): string {
  return `store revision ${summary.revision} (schema version ${summary.schemaVersion}): ${summary.clusters} cluster(s), ` +
    `${summary.egressIps} egress IP(s), ${summary.mappings} mapping(s), ${summary.routes} route(s), ${summary.tokens} active token(s)`;
}

/** egw-YYYYMMDD-HHMMSSZ.db for `at` (UTC), with -1, -2… when that name is taken already. */
export function backupName(at: Date, taken: (name: string) => boolean): string {
  const base = `egw-${utcStamp(at)}`;
  if (!taken(`${base}.db`)) return `${base}.db`;
  for (let n = 1; ; n++) if (!taken(`${base}-${n}.db`)) return `${base}-${n}.db`;
}

/** YYYYMMDD-HHMMSSZ, UTC: sorts as it happened, and says which zone it is in. */
export function utcStamp(at: Date): string {
  const iso = at.toISOString();
  return `${iso.slice(0, 10).replaceAll("-", "")}-${iso.slice(11, 19).replaceAll(":", "")}Z`;
}

/** Of the backup names given, the ones beyond the newest `keep`, oldest first. Other names are not backups and stay. */
export function backupsBeyond(names: readonly string[], keep: number): string[] {
  const backups = names.flatMap((name) => {
    const match = BACKUP_NAME.exec(name);
    return match ? [{ name, stamp: `${match[1]}${match[2]}`, n: Number(match[3] ?? 0) }] : [];
  });
  backups.sort((a, b) => (a.stamp === b.stamp ? a.n - b.n : a.stamp < b.stamp ? -1 : 1));
  return backups.slice(0, Math.max(0, backups.length - keep)).map((b) => b.name);
}

function pruneBackups(directory: string, keep: number, files: SystemFiles): string[] {
  const names = readdirSync(directory).filter((name) => statSync(join(directory, name)).isFile());
  const removed = backupsBeyond(names, keep).map((name) => join(directory, name));
  for (const path of removed) files.removeFile(path);
  if (removed.length > 0) files.sync(directory);
  return removed;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
