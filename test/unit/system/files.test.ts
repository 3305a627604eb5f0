import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync, existsSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { HostFiles } from "../../../appliance/system/files.js";
import { ExecaRunner, type CommandResult, type CommandRunner, type RunOptions } from "../../../appliance/system/runner.js";

/** The real runner, with a record of what it ran. */
class RecordingRunner implements CommandRunner {
  readonly calls: string[] = [];
  private readonly real = new ExecaRunner();
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    this.calls.push([command, ...args].join(" "));
    return this.real.run(command, args, options);
  }
}

const modeOf = (path: string) => statSync(path).mode & 0o7777;

describe("HostFiles: the files the daemon writes on the machine", () => {
  let dir: string;
  let runner: RecordingRunner;
  let files: HostFiles;
  let umask: number;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-files-"));
    runner = new RecordingRunner();
    files = new HostFiles(runner);
    umask = process.umask();
  });
  afterEach(() => process.umask(umask));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("writes a file with exactly the mode asked for, whatever the umask", () => {
    process.umask(0o077);
    files.writeFile(join(dir, "public"), "text\n", 0o644);
    assert.equal(modeOf(join(dir, "public")), 0o644, "a strict umask does not narrow it");
    process.umask(0o000);
    files.writeFile(join(dir, "private"), "secret\n", 0o600);
    assert.equal(modeOf(join(dir, "private")), 0o600, "a lax umask does not widen it");
    assert.equal(readFileSync(join(dir, "public"), "utf8"), "text\n");
  });

  it("replaces a file whole: a reader that opened the old one reads it to the end, and nothing is left beside it", () => {
    const path = join(dir, "replaced");
    writeFileSync(path, "old content\n");
    chmodSync(path, 0o600);
    const reader = openSync(path, "r");
    try {
      files.writeFile(path, "new\n", 0o644);
      const buffer = Buffer.alloc(64);
      assert.equal(buffer.toString("utf8", 0, readSync(reader, buffer, 0, 64, 0)), "old content\n");
    } finally {
      closeSync(reader);
    }
    assert.equal(readFileSync(path, "utf8"), "new\n");
    assert.equal(modeOf(path), 0o644, "the new file has the new mode");
    assert.equal(existsSync(`${path}.new`), false);
  });

  it("keeps the old file when the new one cannot be written", () => {
    const path = join(dir, "kept");
    writeFileSync(path, "old\n");
    mkdirSync(`${path}.new`);
    assert.throws(() => files.writeFile(path, "new\n", 0o644), /EISDIR/);
    assert.equal(readFileSync(path, "utf8"), "old\n");
  });

  it("stages a file beside its target for a check; the target changes only on commit", () => {
    const path = join(dir, "staged.conf");
    writeFileSync(path, "live\n");
    const staged = files.stageFile(path, "candidate\n", 0o640);
    assert.equal(staged.path, `${path}.new`);
    assert.equal(readFileSync(staged.path, "utf8"), "candidate\n");
    assert.equal(modeOf(staged.path), 0o640);
    assert.equal(readFileSync(path, "utf8"), "live\n", "not in place before commit");
    staged.commit();
    assert.equal(readFileSync(path, "utf8"), "candidate\n");
    assert.equal(existsSync(staged.path), false);
  });

  it("makes a directory with exactly its mode, and leaves one that exists as it is", () => {
    process.umask(0o077);
    const path = join(dir, "run", "egw");
    files.makeDirectory(path, 0o750);
    assert.equal(modeOf(path), 0o750);
    chmodSync(path, 0o700);
    files.makeDirectory(path, 0o750);
    assert.equal(modeOf(path), 0o700, "prepared by someone else (systemd's RuntimeDirectory): not ours to change");
  });

  it("makes a fifo once, with its mode", async () => {
    const path = join(dir, "notify.fifo");
    await files.makeFifo(path, 0o600);
    assert.ok(statSync(path).isFIFO());
    assert.equal(modeOf(path), 0o600);
    await files.makeFifo(path, 0o600);
    assert.deepEqual(runner.calls, [`mkfifo -m 600 ${path}`], "the second call found it there");
  });

  it("removes a stale file, but never a directory given as a file (a mistyped unix: listener must not wipe one)", () => {
    const socket = join(dir, "stale.sock");
    writeFileSync(socket, "");
    files.removeFile(socket);
    assert.equal(existsSync(socket), false);
    files.removeFile(socket);
    const directory = join(dir, "precious");
    mkdirSync(directory);
    writeFileSync(join(directory, "egw.db"), "data");
    assert.throws(() => files.removeFile(directory));
    assert.equal(readFileSync(join(directory, "egw.db"), "utf8"), "data");
  });

  it("copies a file with exactly its mode, never over an existing one, and syncs files and directories", () => {
    const from = join(dir, "backup.db");
    writeFileSync(from, "a backup\n", { mode: 0o644 });
    process.umask(0o000);
    files.copyFile(from, join(dir, "restored.db"), 0o600);
    assert.equal(modeOf(join(dir, "restored.db")), 0o600);
    assert.equal(readFileSync(join(dir, "restored.db"), "utf8"), "a backup\n");
    writeFileSync(join(dir, "occupied.db"), "keep me\n");
    assert.throws(() => files.copyFile(from, join(dir, "occupied.db"), 0o600), /EEXIST/);
    assert.equal(readFileSync(join(dir, "occupied.db"), "utf8"), "keep me\n");
    files.sync(join(dir, "restored.db"));
    files.sync(dir);
    assert.throws(() => files.sync(join(dir, "absent")), /ENOENT/);
  });

  it("hands a file to another owner", { skip: process.getuid?.() === 0 ? false : "chown needs root" }, () => {
    const path = join(dir, "owned.db");
    writeFileSync(path, "");
    files.setOwner(path, 65534, 65534);
    assert.deepEqual([statSync(path).uid, statSync(path).gid], [65534, 65534]);
  });
});
