import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { AppError } from "../../errors.js";
import { loadConfig } from "../../config/load.js";
import { MIGRATIONS_DIR } from "../../paths.js";
import { databaseFiles, stageRestore } from "../../store/backup.js";
import { readMigrations } from "../../store/migrate.js";
import { processesHolding } from "../../system/open-files.js";
import { hostCommandsAndFiles } from "../../system/system.js";
import { parseCommandArgs, positionals, type CliIo } from "../../terminal/io.js";
import { escapeControl, printJson } from "../../terminal/output.js";
import { DEFAULT_CONFIG } from "../connection.js";
import { describeStore, utcStamp } from "./backup.js";

export const RESTORE_USAGE = `usage:
  egw restore FILE [--config FILE] [--force] [--json]
  Installs the backup FILE (written by egw backup) as the daemon's store, the database at database.path in the
  config (default ${DEFAULT_CONFIG}), while the daemon is stopped: systemctl stop egw first. FILE is only
  read: it is copied beside the database, and the copy is checked (integrity_check, foreign_key_check, and a
  schema this release can migrate) before it takes the database's place in one rename, mode 0600, owned by the
  owner of the database's directory (egw:egw for /var/lib/egw).
  Refused while any process holds the database open, and while a database is there unless --force, which
  moves it and its -wal and -shm files aside to DATABASE.before-restore-YYYYMMDD-HHMMSSZ.
  Run it as root. Then systemctl start egw: the daemon migrates an older schema at start and makes the data
  plane match the restored store.`;

export const OPTIONS = {
  config: { type: "string" },
  force: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
} as const;

export async function restoreCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs(args, OPTIONS, RESTORE_USAGE);
  const [file = ""] = positionals(pos, ["FILE"], RESTORE_USAGE);
  const backup = resolve(file);
  const configPath = values.config ?? DEFAULT_CONFIG;
  const databasePath = loadConfig(configPath).database.path;
  if (process.getuid?.() !== 0) {
    // Only root sees every process's open files (/proc/PID/fd) and may hand the database to the daemon's user.
    throw new AppError("command-failed", "egw restore must run as root: it checks that no process holds the database open and installs it for the daemon's user");
  }
  const directory = dirname(databasePath);
  if (!existsSync(directory)) {
    throw new AppError("not-found", `the database directory ${directory} does not exist; make it for the daemon's user first: install -d -m 0700 -o egw -g egw ${directory}`);
  }
  refuseWhileHeld(databasePath);
  const present = databaseFiles(databasePath).filter((path) => existsSync(path));
  if (present.length > 0 && !values.force) {
    throw new AppError("conflict", `a database is there already (${present.join(", ")}); egw restore replaces it only with --force, which moves it aside`);
  }

  const { files } = hostCommandsAndFiles();
  const staged = stageRestore(backup, databasePath, files, readMigrations(MIGRATIONS_DIR));
  let aside: string | undefined;
  try {
    const owner = statSync(directory);
    files.setOwner(staged.path, owner.uid, owner.gid);
    files.setMode(staged.path, 0o600);
    // The checks took a moment: a daemon started meanwhile must not have the old database pulled from under it.
    refuseWhileHeld(databasePath);
    if (present.length > 0) {
      aside = `${databasePath}.before-restore-${utcStamp(new Date())}`;
      // The -wal and -shm files keep their suffixes, so the set moved aside still opens as the database it was.
      for (const path of present) files.move(path, `${aside}${path.slice(databasePath.length)}`);
    }
    staged.commit();
    const summary = staged.summary;
    if (values.json) {
      printJson(io, { restored: backup, database: databasePath, owner: { uid: owner.uid, gid: owner.gid }, mode: "0600", ...summary, movedAside: aside ?? null });
      return 0;
    }
    io.stdout(`restored ${backup} to ${databasePath} (owner ${owner.uid}:${owner.gid}, mode 0600), integrity ok\n`);
    io.stdout(`${describeStore(summary)}\n`);
    if (aside) io.stdout(`the database that was there is now ${aside}\n`);
    io.stdout("start the daemon: systemctl start egw\n");
    return 0;
  } finally {
    staged.discard();
  }
}

function refuseWhileHeld(databasePath: string): void {
  const holders = processesHolding(databaseFiles(databasePath));
  if (holders.length === 0) return;
  const who = holders.map((h) => `pid ${h.pid} (${escapeControl(h.command)})`).join(", ");
  throw new AppError("conflict", `the database ${databasePath} is open in ${who}: stop the daemon first (systemctl stop egw)`);
}
