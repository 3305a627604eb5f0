import { chmodSync, closeSync, existsSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
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

  /** Node cannot make a fifo; mkfifo(1) can, and sets the mode itself (-m is not narrowed by the umask). */
  async makeFifo(path: string, mode: number): Promise<void> {
    if (existsSync(path)) return;
    await this.runner.run("mkfifo", ["-m", mode.toString(8), path]);
  }
}
