import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatApply } from "../../../appliance/cli/commands/status.js";

describe("formatApply", () => {
  const base = { revision: 7, ok: true, at: "2026-12-02T10:00:00.000Z", durationMs: 12.4, kind: "full" };

  it("a plain success is one short line", () => {
    assert.equal(formatApply({ ...base, isolated: [], unresolvedNextHops: [] }), "ok, revision 7, full, 12 ms, at 2026-12-02T10:00:00.000Z");
  });

  it("names a held-back cluster and unresolved next hops even on success", () => {
    const text = formatApply({ ...base, isolated: [{ cluster: "prod", error: "File exists" }], unresolvedNextHops: ["172.31.0.11"] });
    assert.match(text, /cluster prod HELD BACK .*File exists/);
    assert.match(text, /next hops not resolved yet .*172\.31\.0\.11/);
  });
});
