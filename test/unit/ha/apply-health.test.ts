import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { ApplyHealthPolicy, PEER_REPORT_MAX_AGE_MS } from "../../../appliance/ha/apply-health.js";
import { HealthFile } from "../../../appliance/ha/health-file.js";
import type { ApplyReport } from "../../../appliance/reconcile/reconciler.js";
import { PeerView } from "../../../appliance/replication/peer-view.js";
import { FakeFiles } from "../../helpers/fake-files.js";

const failed = (revision: number): ApplyReport => ({ revision, ok: false, at: "2026-12-02T10:00:00.000Z", durationMs: 1, kind: "full", error: "nft: Could not process rule" });
const applied = (revision: number): ApplyReport => ({ revision, ok: true, at: "2026-12-02T10:00:00.000Z", durationMs: 1, kind: "full" });

describe("ApplyHealthPolicy: when failing applies fault this gateway", () => {
  let files: FakeFiles;
  let now: number;
  let view: PeerView;
  let health: HealthFile;
  let policy: ApplyHealthPolicy;
  const file = () => files.text("/run/egw/health");

  beforeEach(() => {
    files = new FakeFiles();
    now = 1_000;
    view = new PeerView(() => now);
    health = new HealthFile(files, "/run/egw/health");
    health.init();
    policy = new ApplyHealthPolicy({ health, peerView: view, peer: "gw-b", log: pino({ enabled: false }) });
    view.on("updated", () => policy.onPeerReport());
  });

  const failThrice = (revision: number) => {
    for (let i = 0; i < 3; i++) policy.onReport(failed(revision));
  };

  it("faults when its applies keep failing while the peer applied the same revision", () => {
    view.record("gw-b", { role: "backup", lastApply: applied(7) });
    failThrice(7);
    assert.equal(file(), "1\n");
    assert.deepEqual(health.failing(), ["data plane apply failing"]);
    assert.deepEqual(policy.warnings(), [], "the health reason is the report");
  });

  it("stays eligible, and says so loudly, when the peer fails the same revision (a configuration every gateway refuses)", () => {
    view.record("gw-b", { role: "backup", lastApply: failed(7) });
    failThrice(7);
    assert.equal(file(), "0\n");
    assert.match(policy.warnings()[0] ?? "", /data plane apply failing \(3 in a row, revision 7: nft: Could not process rule\); gw-b does not report a healthy data plane/);
  });

  it("stays eligible when the peer said nothing, applied another revision, or last spoke too long ago", () => {
    failThrice(7);
    assert.equal(file(), "0\n", "silent peer");
    view.record("gw-b", { role: "backup", lastApply: applied(6) });
    policy.onReport(failed(7));
    assert.equal(file(), "0\n", "another revision");
    view.record("gw-b", { role: "backup", lastApply: applied(7) });
    now += PEER_REPORT_MAX_AGE_MS + 1;
    policy.onReport(failed(7));
    assert.equal(file(), "0\n", "a stale report");
  });

  it("faults as soon as the peer reports the revision healthy, without waiting for another local failure", () => {
    failThrice(7);
    assert.equal(file(), "0\n");
    view.record("gw-b", { role: "master", lastApply: applied(7) });
    assert.equal(file(), "1\n");
  });

  it("needs three failures in a row, and clears on the next success", () => {
    view.record("gw-b", { role: "backup", lastApply: applied(7) });
    policy.onReport(failed(7));
    policy.onReport(failed(7));
    assert.equal(file(), "0\n");
    policy.onReport(failed(7));
    assert.equal(file(), "1\n");
    policy.onReport(applied(7));
    assert.equal(file(), "0\n");
    assert.deepEqual(policy.warnings(), []);
  });
});
