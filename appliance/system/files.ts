import { chmodSync, chownSync, closeSync, constants, copyFileSync, existsSync, fchmodSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CommandRunner } from "./runner.js";

/** A file written whole beside its target and not yet in place, so that it can be checked first (keepalived -t). */
export interface StagedFile {
  /** Where the new content lies until commit(). */
  readonly path: string;
  /** Moves it over the target in one step: a reader sees the old file or the new one, never a part of either. */
  commit(): void;
}

/**
 * The files, directories and fifos the daemon and the CLI make on the machine. Each file is replaced whole and
 * each mode is set explicitly: a reader (keepalived, conntrackd) never sees half a file, and the umask the
 * process was started with never decides who may read what it wrote.
 */
export interface SystemFiles {
  /** Replaces the file at `path` with `content`, mode `mode`; on failure the old file stays as it was. */
  writeFile(path: string, content: string, mode: number): void;
  /** Writes `content` beside `path` (at `path`.new) for a check; the caller commits it or leaves it. */
  stageFile(path: string, content: string, mode: number): StagedFile;
  /** Creates the directory and its missing parents; one that exists is left as it is. */
  makeDirectory(path: string, mode: number): void;
  /** Creates a named pipe, unless something exists at `path` already. */
  makeFifo(path: string, mode: number): Promise<void>;
  /** Creates an empty file with `mode` unless one exists (a database file SQLite then opens). */
  ensureFile(path: string, mode: number): void;
  /** Narrows the mode of an existing file to `mode` if others may do more with it; absent files are left alone. */
  restrictMode(path: string, mode: number): void;
  /** Sets the mode exactly (a socket a server just created). */
  setMode(path: string, mode: number): void;
  /** Renames within one file system: the target is replaced in one step. */
  move(from: string, to: string): void;
  /** Copies a file whole to a new path (never over an existing one), mode `mode`, its content on disk when it returns. */
  copyFile(from: string, to: string, mode: number): void;
  /** Flushes a file's content, or a directory's entries (a rename just made in it), to disk. */
  sync(path: string): void;
  /** Hands a file or directory to a user and group (a restored database to the daemon's user). */
  setOwner(path: string, uid: number, gid: number): void;
  /** Removes a file (a stale socket); nothing there is fine, a directory there is an error and stays. */
  removeFile(path: string): void;
  /** Removes a whole directory this process made itself (a temporary one); never used on a configured path. */
  removeTree(path: string): void;
  exists(path: string): boolean;
  /** A file's text, or undefined when there is none (to leave a file that already says the same untouched). */
  readText(path: string): string | undefined;
  /** A new private directory inside `parent` (mode 0700), for work that must not be seen half-done. */
  makeTempDirectory(parent: string, prefix: string): string;
}

export class HostFiles implements SystemFiles {
  constructor(private readonly runner: CommandRunner) {}

  writeFile(path: string, content: string, mode: number): void {
    this.stageFile(path, content, mode).commit();
  }

  /**
   * The content is on disk before the rename can be (fsync): otherwise a crash could leave the new name on an
   * empty file. Beside the target, so that the rename stays on one file system and is atomic.
   */
  stageFile(path: string, content: string, mode: number): StagedFile {
    const staged = `${path}.new`;
    const fd = openSync(staged, "w", mode);
    try {
      try {
        fchmodSync(fd, mode);
        writeFileSync(fd, content);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      rmSync(staged, { force: true });
      throw error;
    }
    return { path: staged, commit: () => renameSync(staged, path) };
  }

  /** mkdir narrows the mode by the umask: the directory this call created gets it exactly; one prepared by others (systemd's RuntimeDirectory) keeps theirs. */
  makeDirectory(path: string, mode: number): void {
    if (mkdirSync(path, { recursive: true, mode }) !== undefined) chmodSync(path, mode);
  }

  ensureFile(path: string, mode: number): void {
    if (!existsSync(path)) closeSync(openSync(path, "a", mode));
    chmodSync(path, mode);
  }

  restrictMode(path: string, mode: number): void {
    if (existsSync(path) && (statSync(path).mode & 0o777 & ~mode) !== 0) chmodSync(path, mode);
  }

  setMode(path: string, mode: number): void {
    chmodSync(path, mode);
  }

  move(from: string, to: string): void {
    renameSync(from, to);
  }

  copyFile(from: string, to: string, mode: number): void {
    copyFileSync(from, to, constants.COPYFILE_EXCL);
    try {
      chmodSync(to, mode);
      this.sync(to);
    } catch (error) {
      rmSync(to, { force: true });
      throw error;
    }
  }

  /** fsync(2) needs a descriptor; a directory opens read-only, and fsync on it makes its entries durable. */
  sync(path: string): void {
    const fd = openSync(path, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  setOwner(path: string, uid: number, gid: number): void {
    chownSync(path, uid, gid);
  }

  removeFile(path: string): void {
    rmSync(path, { force: true });
  }

  removeTree(path: string): void {
    rmSync(path, { recursive: true, force: true });
  }

  exists(path: string): boolean {
    return existsSync(path);
  }

  readText(path: string): string | undefined {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  }

  makeTempDirectory(parent: string, prefix: string): string {
    return mkdtempSync(join(parent, prefix));
  }

  /** Node cannot make a fifo; mkfifo(1) can, and sets the mode itself (-m is not narrowed by the umask). */
  async makeFifo(path: string, mode: number): Promise<void> {
    if (existsSync(path)) return;
    await this.runner.run("mkfifo", ["-m", mode.toString(8), path]);
  }
}
