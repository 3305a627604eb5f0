import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { encodeChanges } from "../../appliance/nft/netlink-elements.js";
import { emptySets, type NftState, type SetName, type StateChanges } from "../../appliance/nft/state.js";
import { KERNEL_EXPIRY_GRACE_MS } from "../../appliance/nft/ruleset.js";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

const NOW = 1_800_000_000_000;

interface Captured {
  name: string;
  nft: string;
  state: { set?: SetName; emptyBefore?: boolean; added?: [string, string][]; removed?: [string, string][]; counterAdded?: string; counterRemoved?: string; timeouts?: Record<string, number> };
  messages: { type: number; family: number; hex: string }[];
}

/**
 * What nft 1.0.6 sends for each change, captured with `nft --debug=mnl` by test/unit/fixtures/nft-netlink-capture.py
 * (padding zeroed, nft's NFTA_SET_ELEM_LIST_SET_ID left out: the kernel finds the set by its name).
 */
const CAPTURES = (JSON.parse(readFileSync(join(PACKAGE_ROOT, "test/unit/fixtures/nft-netlink-captures.json"), "utf8")) as { cases: Captured[] }).cases;

function changesOf(c: Captured["state"]): { changes: StateChanges; to: NftState } {
  const sets = emptySets();
  const changes: StateChanges = { sets: [], counters: { added: c.counterAdded ? [c.counterAdded] : [], removed: c.counterRemoved ? [c.counterRemoved] : [] } };
  if (c.set) {
    const added = c.added ?? [];
    const removed = c.removed ?? [];
    changes.sets.push({ name: c.set, added, removed });
    for (const [key, value] of added) sets[c.set].set(key, value);
    // A set that was not empty before holds something else too (its own element is never part of a message).
    if (!c.emptyBefore) sets[c.set].set("unrelated", "");
  }
  // An element with a timeout of N seconds is one that expires N seconds from now, less the kernel's grace.
  const expiries = c.set && c.timeouts ? { [c.set]: new Map(Object.entries(c.timeouts).map(([key, seconds]) => [key, NOW + seconds * 1000 - KERNEL_EXPIRY_GRACE_MS])) } : {};
  return { changes, to: { sets, counters: new Set(), chains: {}, ruleForms: {}, expiries } };
}

describe("netlink element encoding: the bytes nft sends", () => {
  for (const captured of CAPTURES) {
    it(`${captured.name} (nft ${captured.nft})`, () => {
      const { changes, to } = changesOf(captured.state);
      const messages = encodeChanges("t", changes, to, NOW);
      assert.ok(messages, "encodable");
      assert.deepEqual(
        messages.map((m) => ({ type: m.type, family: m.family, hex: m.body.toString("hex") })),
        captured.messages,
      );
    });
  }

  it("splits a long element list over several messages, each under the 16-bit attribute length", () => {
    const added: [string, string][] = Array.from({ length: 3000 }, (_, i) => [`10.${i >> 8}.${i & 255}.0/24`, "192.0.2.1"]);
    const sets = emptySets();
    for (const [key, value] of added) sets.snat_v4.set(key, value);
    const messages = encodeChanges("t", { sets: [{ name: "snat_v4", added, removed: [] }], counters: { added: [], removed: [] } }, { sets, counters: new Set(), chains: {}, ruleForms: {} });
    assert.ok(messages && messages.length > 1);
    for (const m of messages) assert.ok(m.body.length < 65_536);
    const elements = messages.reduce((n, m) => n + countElements(m.body), 0);
    // Adjacent /24s: every one a start and an end element, and the first segment in front.
    assert.equal(elements, 2 * 3000 + 1);
  });

  it("leaves a change with anything it cannot encode to nft, whole", () => {
    const sets = emptySets();
    sets.policy_verdict_v4.set("10.0.0.0/24", JSON.stringify({ queue: { num: 1 } }));
    sets.snat_v4.set("10.0.0.0/24", "192.0.2.1");
    const changes: StateChanges = {
      sets: [{ name: "snat_v4", added: [["10.0.0.0/24", "192.0.2.1"]], removed: [] }, { name: "policy_verdict_v4", added: [["10.0.0.0/24", JSON.stringify({ queue: { num: 1 } })]], removed: [] }],
      counters: { added: [], removed: [] },
    };
    assert.equal(encodeChanges("t", changes, { sets, counters: new Set(), chains: {}, ruleForms: {} }), undefined);
  });
});

/** The elements in a NEWSETELEM body (the nested NFTA_SET_ELEM_LIST_ELEMENTS). */
function countElements(body: Buffer): number {
  for (let at = 0; at < body.length;) {
    const length = body.readUInt16LE(at);
    if ((body.readUInt16LE(at + 2) & 0x7fff) === 3) {
      let n = 0;
      for (let e = at + 4; e < at + length; e += (body.readUInt16LE(e) + 3) & ~3) n++;
      return n;
    }
    at += (length + 3) & ~3;
  }
  return 0;
}
