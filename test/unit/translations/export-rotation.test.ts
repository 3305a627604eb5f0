import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { openRotatingFile, type LineWriter } from "../../../appliance/system/rotating-file.js";
import { until } from "../../helpers/until.js";

const quiet = pino({ enabled: false });

/** Line `i`, of varying length so that files fill unevenly; "é" makes bytes differ from characters. */
const line = (i: number) => `{"n":${i},"pad":"${"é".repeat(i % 17)}${"x".repeat(20 + (i % 13))}"}\n`;

describe("rotating file: the JSON-lines export's writer", () => {
  let dir: string;
  let writers: LineWriter[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-rotate-"));
    writers = [];
  });
  afterEach(async () => {
    await Promise.all(writers.map((writer) => writer.close()));
    rmSync(dir, { recursive: true, force: true });
  });
  const open = (options: Parameters<typeof openRotatingFile>[0]) => {
    const writer = openRotatingFile(options, quiet);
    writers.push(writer);
    return writer;
  };

  it("rotates at maxBytes, keeps `keep` files, deletes the oldest, and never splits a line", async () => {
    const path = join(dir, "translations.jsonl");
    const maxBytes = 1_000;
    const writer = open({ path, maxBytes, keep: 3 });
    const total = 400;
    // In several bursts, so that rotation happens both inside a batch and between batches.
    for (let burst = 0; burst < 4; burst++) {
      for (let i = burst * 100; i < (burst + 1) * 100; i++) assert.equal(writer.write(line(i)), true);
      await until(() => writer.stats().written === (burst + 1) * 100, "the burst on disk");
    }
    assert.deepEqual(readdirSync(dir).sort(), ["translations.jsonl", "translations.jsonl.1", "translations.jsonl.2", "translations.jsonl.3"]);
    const kept: string[] = [];
    for (const name of ["translations.jsonl.3", "translations.jsonl.2", "translations.jsonl.1", "translations.jsonl"]) {
      const content = readFileSync(join(dir, name), "utf8");
      assert.ok(statSync(join(dir, name)).size <= maxBytes, `${name} is within maxBytes`);
      assert.ok(content.endsWith("\n"), `${name} ends with a whole line`);
      if (name !== "translations.jsonl") assert.ok(statSync(join(dir, name)).size > maxBytes - 100, `${name} was full when rotated`);
      kept.push(...content.split("\n").slice(0, -1));
    }
    // The kept files hold the newest lines, in order, with none missing between them: the oldest were deleted.
    const first = (JSON.parse(kept[0] as string) as { n: number }).n;
    assert.ok(first > 0, "the oldest lines are gone");
    assert.deepEqual(kept.map((text) => `${text}\n`), Array.from({ length: total - first }, (_, k) => line(first + k)));
    assert.deepEqual(writer.stats(), { written: total, dropped: 0, queued: 0, error: null });
  });

  it("appends to an existing file and counts its size, and deletes numbered files beyond `keep`", async () => {
    const path = join(dir, "export.jsonl");
    writeFileSync(path, "x".repeat(90) + "\n");
    writeFileSync(`${path}.1`, "old one\n");
    writeFileSync(`${path}.5`, "left by a larger keep\n");
    writeFileSync(`${path}.notes`, "not ours\n");
    const writer = open({ path, maxBytes: 100, keep: 2 });
    writer.write("first line\n");
    await until(() => writer.stats().written === 1, "the line on disk");
    assert.equal(readFileSync(path, "utf8"), "first line\n", "91 + 11 bytes would pass 100: the old content was rotated first");
    assert.equal(readFileSync(`${path}.1`, "utf8"), "x".repeat(90) + "\n");
    assert.equal(readFileSync(`${path}.2`, "utf8"), "old one\n");
    assert.equal(existsSync(`${path}.5`), false);
    assert.equal(readFileSync(`${path}.notes`, "utf8"), "not ours\n");
  });

  it("gives a line longer than maxBytes a file of its own rather than losing it", async () => {
    const path = join(dir, "long.jsonl");
    const writer = open({ path, maxBytes: 50, keep: 2 });
    for (const text of ["a\n", `${"L".repeat(80)}\n`, "b\n"]) writer.write(text);
    await until(() => writer.stats().written === 3, "three lines on disk");
    assert.deepEqual([readFileSync(`${path}.2`, "utf8"), readFileSync(`${path}.1`, "utf8"), readFileSync(path, "utf8")],
      ["a\n", `${"L".repeat(80)}\n`, "b\n"]);
  });

  it("drops and counts lines beyond its queue instead of holding them, and never throws at the caller", async () => {
    const writer = open({ path: join(dir, "small.jsonl"), maxBytes: 10_000, keep: 1, queueLimit: 100 });
    const accepted = Array.from({ length: 10 }, () => writer.write(`${"y".repeat(39)}\n`));
    assert.deepEqual(accepted, [true, true, false, false, false, false, false, false, false, false]);
    await until(() => writer.stats().written === 2, "the two queued lines on disk");
    assert.deepEqual(writer.stats(), { written: 2, dropped: 8, queued: 0, error: null });
  });

  it("survives a path it cannot write: queues, drops and counts, reports the error, and resumes when it can", async () => {
    const path = join(dir, "blocked.jsonl");
    mkdirSync(path); // a directory where the file should be: every open fails with EISDIR
    const writer = open({ path, maxBytes: 10_000, keep: 1, queueLimit: 60 });
    writer.write("one\n");
    await until(() => writer.stats().error === "EISDIR", "the failure reported");
    for (let i = 0; i < 20; i++) writer.write(`${"z".repeat(9)}\n`);
    const during = writer.stats();
    assert.equal(during.written, 0);
    assert.ok(during.dropped > 0 && during.queued > 0, `queued up to the limit, then dropped: ${JSON.stringify(during)}`);
    rmSync(path, { recursive: true });
    await until(() => writer.stats().queued === 0, "the queue written after the path became writable", 10_000);
    const after = writer.stats();
    assert.equal(after.error, null);
    assert.equal(after.written, during.queued);
    assert.equal(readFileSync(path, "utf8").split("\n")[0], "one");
  });

  it("on close, writes what is queued and then refuses more (counted)", async () => {
    const path = join(dir, "closing.jsonl");
    const writer = openRotatingFile({ path, maxBytes: 10_000, keep: 1 }, quiet);
    for (let i = 0; i < 50; i++) writer.write(line(i));
    await writer.close();
    assert.equal(readFileSync(path, "utf8").split("\n").length - 1, 50);
    assert.equal(writer.write("late\n"), false);
    assert.deepEqual(writer.stats(), { written: 50, dropped: 1, queued: 0, error: null });
  });
});
