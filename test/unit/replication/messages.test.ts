import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { heartbeatMessageSchema } from "../../../appliance/replication/messages.js";

describe("replication messages", () => {
  const heartbeat = (dataplane: unknown) => ({
    epoch: 513, leader: "gw-b", position: { revision: 12, revisionEpoch: 513 }, digest: null, dataplane,
  });

  it("a heartbeat carries the leader's full apply report, isolated clusters and unresolved next hops included", () => {
    const report = {
      revision: 12, ok: true, at: "2026-12-02T14:13:29.371Z", durationMs: 3, kind: "incremental",
      isolated: [{ cluster: "beta", error: "nft: File exists" }], unresolvedNextHops: ["172.31.0.12"],
    };
    assert.deepEqual(heartbeatMessageSchema.parse(heartbeat(report)).dataplane, report);
  });

  it("a report member this version does not know is dropped, not refused: a newer peer is still understood", () => {
    const parsed = heartbeatMessageSchema.parse(heartbeat({ revision: 1, ok: true, at: "x", durationMs: 1, kind: "none", somethingNew: 1 }));
    assert.deepEqual(parsed.dataplane, { revision: 1, ok: true, at: "x", durationMs: 1, kind: "none" });
  });
});
