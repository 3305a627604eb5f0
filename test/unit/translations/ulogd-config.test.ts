import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import pino from "pino";
import { configSchema } from "../../../appliance/config/schema.js";
import { GapKeeper } from "../../../appliance/translations/gaps.js";
import { renderUlogdConfig } from "../../../appliance/translations/ulogd-config.js";
import { UlogdSupervision, ulogdSpec } from "../../../appliance/translations/ulogd-supervision.js";
import type { LogGap } from "../../../appliance/translation-model.js";

describe("ulogd's config and process", () => {
  it("renders NFCT with reliable delivery, NEW|DESTROY, the netlink buffers, and JSON to the spool", () => {
    const log = configSchema.shape.translationLog.parse({ ulogd: { pluginDirectory: "/usr/lib/ulogd/", netlinkBufferBytes: 1 << 20, netlinkBufferMaxBytes: 1 << 24 } });
    const text = renderUlogdConfig(log, { spoolPath: "/var/lib/egw/translations/spool.json", generatedFor: "gw-a" });
    for (const expected of ['logfile="stdout"', 'plugin="/usr/lib/ulogd/ulogd_inpflow_NFCT.so"', "stack=ct1:NFCT,ip2str1:IP2STR,json1:JSON", "reliable=1",
      "event_mask=5", "hash_enable=0", "netlink_socket_buffer_size=1048576", "netlink_socket_buffer_maxsize=16777216",
      'file="/var/lib/egw/translations/spool.json"', "sync=1"]) {
      assert.ok(text.split("\n").includes(expected), `${expected} in\n${text}`);
    }
    assert.deepEqual(ulogdSpec("ulogd", "/run/egw/ulogd.conf"), { name: "ulogd", command: "ulogd", args: ["-c", "/run/egw/ulogd.conf"] });
  });

  it("keeps one gap open from several causes, and retries a gap the store refused", () => {
    const gaps: LogGap[] = [];
    let failing = false;
    const store = {
      openGap: (reason: LogGap["reason"], fromMs: number) => { if (failing) throw new Error("SQLITE_BUSY"); if (!gaps.some((g) => g.toMs === null)) gaps.push({ gateway: "gw", reason, fromMs, toMs: null }); },
      closeGap: (toMs: number) => { if (failing) throw new Error("SQLITE_BUSY"); const open = gaps.find((g) => g.toMs === null); if (open) open.toMs = toMs; },
    };
    const keeper = new GapKeeper(store, pino({ enabled: false }));
    keeper.raise("disk-full", 1);
    keeper.raise("not-running", 2);
    keeper.clear("disk-full", 3);
    assert.deepEqual(gaps.map((g) => [g.reason, g.fromMs, g.toMs]), [["disk-full", 1, null]]);
    keeper.clear("not-running", 4);
    failing = true;
    keeper.raise("store-error", 5);
    keeper.clear("store-error", 6);
    failing = false;
    keeper.retry();
    assert.deepEqual(gaps.map((g) => [g.reason, g.fromMs, g.toMs]), [["disk-full", 1, 4], ["store-error", 5, 6]]);
  });

  it("has the not-running gap open from start until ulogd runs, and from each exit until its restart", () => {
    const gaps: string[] = [];
    const keeper = new GapKeeper({ openGap: (reason, at) => gaps.push(`open ${reason} ${at}`), closeGap: (at) => gaps.push(`close ${at}`) }, pino({ enabled: false }));
    const child = Object.assign(new EventEmitter(), { start: () => child.emit("spawn", 1), stop: async () => void child.emit("exit", {}), signal: () => true });
    let now = 10;
    const supervision = new UlogdSupervision(child, keeper, () => now++);
    supervision.start();
    child.emit("exit", { pid: 1, exitCode: 1, signal: undefined, expected: false });
    child.emit("spawn", 2);
    assert.deepEqual(gaps, ["open not-running 10", "close 11", "open not-running 12", "close 13"]);
  });
});
