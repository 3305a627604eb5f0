import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { LineWriterStats } from "../../../appliance/system/rotating-file.js";
import type { SyslogSender, SyslogSenderStats } from "../../../appliance/system/syslog-sender.js";
import { createTranslationExports, type ExportConfig } from "../../../appliance/translations/export/exports.js";
import { until } from "../../helpers/until.js";
import { closedRecord, openRecord } from "./export-fixtures.js";

const quiet = pino({ enabled: false });

/** A writer that keeps lines in memory and takes at most `capacity` of them. */
class MemoryWriter implements SyslogSender {
  readonly lines: string[] = [];
  readonly opened: unknown[] = [];
  dropped = 0;
  closed = false;
  constructor(private readonly capacity = Infinity) {}
  write(line: string): boolean {
    if (this.lines.length >= this.capacity) {
      this.dropped++;
      return false;
    }
    this.lines.push(line);
    return true;
  }
  stats(): SyslogSenderStats & LineWriterStats {
    return { written: this.lines.length, dropped: this.dropped, queued: 0, error: null, connected: true };
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const config: ExportConfig = {
  jsonLines: { path: "/var/log/egw/translations.jsonl", maxBytes: 1024 * 1024, keep: 2 },
  syslog: { host: "collector.example", port: 6514, transport: "tcp", facility: 16, appName: "egw" },
};

function withFakes(exportConfig: ExportConfig, capacity = Infinity) {
  const file = new MemoryWriter(capacity);
  const syslog = new MemoryWriter(capacity);
  const exports = createTranslationExports(exportConfig, {
    gateway: "gw-b", log: quiet,
    openFile: (options) => { file.opened.push(options); return file; },
    openSyslog: (options) => { syslog.opened.push(options); return syslog; },
  });
  return { file, syslog, exports };
}

describe("translation exports: the sinks the ingest pipeline feeds", () => {
  it("nothing configured: no sink, nothing opened", () => {
    const { file, syslog, exports } = withFakes({});
    assert.deepEqual(exports.sinks, []);
    assert.deepEqual(exports.status(), {});
    assert.deepEqual([file.opened, syslog.opened], [[], []]);
  });

  it("each record goes to both streams when it opens and when it closes, in the configured form", async () => {
    const { file, syslog, exports } = withFakes(config);
    assert.deepEqual(file.opened, [{ path: "/var/log/egw/translations.jsonl", maxBytes: 1024 * 1024, keep: 2 }]);
    assert.deepEqual(syslog.opened, [{ host: "collector.example", port: 6514, transport: "tcp" }]);
    for (const sink of exports.sinks) {
      sink.opened(openRecord());
      sink.closed(closedRecord());
    }
    assert.deepEqual(file.lines.map((line) => (JSON.parse(line) as { event: string }).event), ["open", "close"]);
    assert.match(syslog.lines[0] as string, /^<134>1 \S+ gw-b egw - translation-open \[translation@32473 gateway="gw-a" /);
    assert.match(syslog.lines[1] as string, /^<134>1 \S+ gw-b egw - translation-close /);
    assert.deepEqual(exports.status(), {
      jsonLines: { path: "/var/log/egw/translations.jsonl", exported: 2, dropped: 0, queued: 0, error: null },
      syslog: { collector: "collector.example:6514", transport: "tcp", connected: true, exported: 2, dropped: 0, queued: 0, error: null },
    });
    await exports.close();
    assert.deepEqual([file.closed, syslog.closed], [true, true]);
  });

  it("a full writer and a record that cannot be formatted are counted as dropped; the pipeline never sees a throw", () => {
    const { exports } = withFakes(config, 1);
    for (const sink of exports.sinks) {
      sink.opened(openRecord());
      sink.opened(openRecord({ id: 2 }));
      assert.doesNotThrow(() => sink.closed(closedRecord({ endMs: Number.NaN })));
    }
    const status = exports.status();
    assert.deepEqual([status.jsonLines?.exported, status.jsonLines?.dropped], [1, 2]);
    assert.deepEqual([status.syslog?.exported, status.syslog?.dropped], [1, 2]);
  });

  it("end to end on the real doorways: a JSON-lines file and a UDP collector on loopback", async () => {
    const dir = mkdtempSync(join(tmpdir(), "egw-export-"));
    const collector = createSocket("udp4");
    try {
      const received: string[] = [];
      collector.on("message", (data) => received.push(data.toString("utf8")));
      await new Promise<void>((resolve) => collector.bind(0, "127.0.0.1", resolve));
      const path = join(dir, "translations.jsonl");
      const exports = createTranslationExports({
        jsonLines: { path, maxBytes: 1024 * 1024, keep: 1 },
        syslog: { host: "127.0.0.1", port: collector.address().port, transport: "udp", facility: 16, appName: "egw" },
      }, { gateway: "gw-a", log: quiet });
      for (const sink of exports.sinks) sink.closed(closedRecord());
      await until(() => received.length === 1 && exports.status().jsonLines?.exported === 1, "both exports delivered");
      await exports.close();
      assert.equal((JSON.parse(readFileSync(path, "utf8")) as { end: string }).end, "2026-12-02T10:16:31.127Z");
      assert.match(received[0] as string, /^<134>1 2026-12-02T10:16:31\.127Z gw-a egw - translation-close /);
    } finally {
      collector.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
