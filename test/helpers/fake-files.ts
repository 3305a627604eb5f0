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

  /** The content of a file, or undefined if there is none. */
  text(path: string): string | undefined {
    return this.files.get(path)?.content;
  }
}
