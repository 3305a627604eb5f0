import type { StagedFile, SystemFiles } from "../../appliance/system/files.js";

export interface FakeFile {
  content: string;
  mode: number;
}

/**
 * The files, directories and fifos the daemon made, as the machine would hold them (FakeSystem has one). Like the
 * real ones, a write replaces a file whole and a staged file lies beside its target until it is committed.
 */
export class FakeFiles implements SystemFiles {
  readonly files = new Map<string, FakeFile>();
  readonly directories = new Map<string, number>();
  readonly fifos = new Map<string, number>();
  /** Makes every write fail with this message, as a full disk would; the files already there stay as they are. */
  failWrites: string | undefined;

  writeFile(path: string, content: string, mode: number): void {
    this.stageFile(path, content, mode).commit();
  }

  stageFile(path: string, content: string, mode: number): StagedFile {
    const staged = `${path}.new`;
    if (this.failWrites !== undefined) throw Object.assign(new Error(`${this.failWrites}, write '${staged}'`), { code: "ENOSPC" });
    this.files.set(staged, { content, mode });
    return {
      path: staged,
      commit: () => {
        const file = this.files.get(staged);
        if (!file) throw Object.assign(new Error(`ENOENT: no such file or directory, rename '${staged}'`), { code: "ENOENT" });
        this.files.set(path, file);
        this.files.delete(staged);
      },
    };
  }

  makeDirectory(path: string, mode: number): void {
    if (!this.directories.has(path)) this.directories.set(path, mode);
  }

  async makeFifo(path: string, mode: number): Promise<void> {
    if (!this.fifos.has(path) && !this.files.has(path)) this.fifos.set(path, mode);
  }

  ensureFile(path: string, mode: number): void {
    const file = this.files.get(path);
    this.files.set(path, { content: file?.content ?? "", mode });
  }

  restrictMode(path: string, mode: number): void {
    const file = this.files.get(path);
    if (file && (file.mode & ~mode) !== 0) file.mode = mode;
  }

  /** Modes set on files this fake did not write (a unix socket a real server created). */
  readonly modesSet = new Map<string, number>();

  setMode(path: string, mode: number): void {
    const file = this.files.get(path);
    if (file) file.mode = mode;
    else this.modesSet.set(path, mode);
  }

  move(from: string, to: string): void {
    const file = this.files.get(from);
    if (!file) throw Object.assign(new Error(`ENOENT: no such file or directory, rename '${from}'`), { code: "ENOENT" });
    this.files.set(to, file);
    this.files.delete(from);
  }

  copyFile(from: string, to: string, mode: number): void {
    const file = this.files.get(from);
    if (!file) throw Object.assign(new Error(`ENOENT: no such file or directory, copyfile '${from}'`), { code: "ENOENT" });
    if (this.exists(to)) throw Object.assign(new Error(`EEXIST: file already exists, copyfile '${to}'`), { code: "EEXIST" });
    this.files.set(to, { content: file.content, mode });
    this.synced.push(to);
  }

  /** Every path sync() flushed, in order. */
  readonly synced: string[] = [];

  sync(path: string): void {
    this.synced.push(path);
  }

  /** Owners set with setOwner, by path. */
  readonly owners = new Map<string, { uid: number; gid: number }>();

  setOwner(path: string, uid: number, gid: number): void {
    this.owners.set(path, { uid, gid });
  }

  removeFile(path: string): void {
    if (this.directories.has(path)) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, rm '${path}'`), { code: "EISDIR" });
    this.files.delete(path);
    this.fifos.delete(path);
  }

  removeTree(path: string): void {
    for (const key of [...this.files.keys()]) if (key === path || key.startsWith(`${path}/`)) this.files.delete(key);
    for (const key of [...this.directories.keys()]) if (key === path || key.startsWith(`${path}/`)) this.directories.delete(key);
    this.fifos.delete(path);
  }

  exists(path: string): boolean {
    return this.files.has(path) || this.directories.has(path) || this.fifos.has(path);
  }

  readText(path: string): string | undefined {
    return this.files.get(path)?.content;
  }

  private temporaries = 0;

  makeTempDirectory(parent: string, prefix: string): string {
    const path = `${parent}/${prefix}${++this.temporaries}`;
    this.directories.set(path, 0o700);
    return path;
  }

  /** The content of a file, or undefined if there is none. */
  text(path: string): string | undefined {
    return this.files.get(path)?.content;
  }
}
