import { basename, dirname, join } from "node:path";
import type { SpoolChunk, SpoolFiles, SpoolIdentity } from "../../appliance/system/spool.js";

const enoent = (what: string, path: string) => Object.assign(new Error(`ENOENT: no such file or directory, ${what} '${path}'`), { code: "ENOENT" });

/**
 * ulogd's spool as a file system would hold it, for unit tests: files are byte buffers with an inode each, and
 * `append` is what ulogd's JSON output does (it creates the file, as ulogd does on start and after SIGHUP).
 */
export class FakeSpoolFiles implements SpoolFiles {
  readonly files = new Map<string, { data: Buffer; inode: number }>();
  readonly directories = new Map<string, number>();
  free = 10 * 1024 ** 3;
  private nextInode = 100;

  append(path: string, text: string): void {
    const file = this.files.get(path);
    if (file) file.data = Buffer.concat([file.data, Buffer.from(text)]);
    else this.files.set(path, { data: Buffer.from(text), inode: this.nextInode++ });
  }

  text(path: string): string | undefined {
    return this.files.get(path)?.data.toString("utf8");
  }

  read(path: string, offset: number, maxBytes: number): SpoolChunk {
    const file = this.files.get(path);
    if (!file) throw enoent("open", path);
    const slice = file.data.subarray(offset, offset + maxBytes);
    const full = slice.length === maxBytes;
    const lastNewline = slice.lastIndexOf(0x0a);
    const end = lastNewline >= 0 ? lastNewline + 1 : full ? slice.length : 0;
    return { text: slice.toString("utf8", 0, end), nextOffset: offset + end, full };
  }

  stat(path: string): SpoolIdentity | undefined {
    const file = this.files.get(path);
    return file ? { size: file.data.length, inode: file.inode } : undefined;
  }

  rename(from: string, to: string): void {
    const file = this.files.get(from);
    if (!file) throw enoent("rename", from);
    this.files.set(to, file);
    this.files.delete(from);
  }

  generations(path: string): string[] {
    const prefix = `${join(dirname(path), basename(path))}.`;
    return [...this.files.keys()].filter((name) => name.startsWith(prefix)).map((name) => basename(name));
  }

  remove(path: string): void {
    this.files.delete(path);
  }

  freeBytes(): number {
    return this.free;
  }

  ensureDirectory(path: string, mode: number): void {
    this.directories.set(path, mode);
  }
}
