import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { judgeFlows, type Change, type Flow } from "../../../bench/lib/churn-judge.js";

const A = "203.0.113.10";
const B = "203.0.113.11";
const POD = "10.244.1.5";
// The mapping: A until a change asked at 100 and live at 130 (to B), then deleted (asked 200, live 220).
const changes: Change[] = [{ start: 100, live: 130, egress: B }, { start: 200, live: 220, egress: null }];

describe("judging flows against a mapping's history", () => {
  it("holds a flow inside a settled window to that window's egress IP", () => {
    const flows: Flow[] = [[1, 10, 20, A], [2, 140, 150, B], [3, 150, 160, A]];
    const v = judgeFlows(flows, 3, A, changes);
    assert.equal(v.judged, 3);
    assert.equal(v.misses, 1, "flow 3 left with A after the change to B was live");
    assert.match(v.samples[0] ?? "", /^3 from 203\.0\.113\.10 \(expected 203\.0\.113\.11\)/);
  });

  it("lets a flow that straddles a change come from either side, but never from elsewhere", () => {
    const flows: Flow[] = [[1, 95, 105, A], [2, 110, 135, B], [3, 120, 125, POD]];
    const v = judgeFlows(flows, 3, A, changes);
    assert.equal(v.judged, 0);
    assert.equal(v.misses, 1, "the pod's own address is never an expected source");
    assert.deepEqual(v.expected.sort(), [A, B]);
  });

  it("counts any arrival while the pod has no mapping as a miss, and what never arrived as drops", () => {
    const flows: Flow[] = [[1, 230, 240, B], [2, 10, 20, A], [2, 10, 21, A]];
    const v = judgeFlows(flows, 5, A, changes);
    assert.equal(v.misses, 1);
    assert.match(v.samples[0] ?? "", /no mapping/);
    assert.equal(v.arrived, 2, "a duplicate counts once");
    assert.equal(v.drops, 3);
  });

  it("does not judge a window whose write failed (its state is not known)", () => {
    const v = judgeFlows([[1, 140, 150, A]], 1, A, [{ start: 100, live: 130, egress: undefined }]);
    assert.equal(v.judged, 0);
    assert.equal(v.misses, 0);
  });
});
