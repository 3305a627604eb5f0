import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diffNft, formatNftDifferences, renderNftText } from "../../../appliance/cli/nft-text.js";
import type { Mapping } from "../../../appliance/model.js";
import { desiredNftState, renderFull } from "../../../appliance/nft/ruleset.js";
import { cloneState } from "../../../appliance/nft/state.js";

const options = { table: "egress_gateway", insideInterface: "eth1", outsideInterface: "eth2", unmappedTraffic: "drop" as const };
const mapping = (name: string, sourceCidr: string, egressIp: string, more: Partial<Mapping> = {}): Mapping =>
  ({ cluster: "prod", name, sourceCidr, egressIp, destinations: [], excludedDestinations: [], labels: {}, ...more }) as Mapping;

describe("egw show nft: rendering and diff", () => {
  const mappings = [
    mapping("erp", "10.244.1.0/26", "203.0.113.10"),
    mapping("billing", "10.244.1.64/26", "203.0.113.11", { destinations: ["198.51.100.0/24"], excludedDestinations: ["198.51.100.53/32"] }),
  ];
  const state = desiredNftState(options, mappings, ["203.0.113.10", "203.0.113.11"]);

  it("renders the batch the daemon sends as nft-like text", () => {
    const text = renderNftText(renderFull(options, state), state);
    assert.match(text, /^table inet egress_gateway \{\n/);
    assert.match(text, /\n {2}map snat_v4 \{\n {4}type ipv4_addr : ipv4_addr\n {4}flags interval\n {4}elements = \{\n {6}10\.244\.1\.0\/26 : 203\.0\.113\.10,\n/);
    assert.match(text, /\n {6}10\.244\.1\.64\/26 \. 198\.51\.100\.0\/24 : 203\.0\.113\.11,\n/);
    assert.match(text, /\n {4}oifname != "eth2" return comment "egw:only-outside"\n/);
    assert.match(text, /\n {4}snat ip to ip saddr map @snat_v4 comment "egw:snat-v4"\n/);
    assert.match(text, /\n {4}ip saddr \. ip daddr @nonat_v4 accept comment "egw:excluded-v4"\n/);
    assert.match(text, /\n {4}oifname "eth2" ct state invalid,untracked counter drop comment "egw:drop-untranslatable"\n/);
    assert.match(text, /\n {4}oifname "eth2" counter name ip saddr map @eip_out_v4 accept comment "egw:count-out-v4"\n/);
    assert.match(text, /\n {4}type nat hook postrouting priority 100; policy accept;\n/);
  });

  it("finds no difference between identical states", () => {
    assert.deepEqual(diffNft(state, cloneState(state)), []);
  });

  it("lists missing, unexpected and different elements, and a missing table", () => {
    const live = cloneState(state);
    live.sets.snat_v4.delete("10.244.1.0/26");
    live.sets.snat_v4.set("10.244.9.0/24", "203.0.113.12");
    live.sets.nonat_v4.clear();
    live.sets.snat_dst_v4.set("10.244.1.64/26 . 198.51.100.0/24", "203.0.113.99");
    live.chains["postrouting"] = (live.chains["postrouting"] ?? []).slice(1);
    const differences = diffNft(state, live);
    assert.equal(formatNftDifferences(differences), [
      "+ snat_v4 10.244.1.0/26 : 203.0.113.10    (rendered, not live)",
      "- snat_v4 10.244.9.0/24 : 203.0.113.12    (live, not rendered)",
      "~ snat_dst_v4 10.244.1.64/26 . 198.51.100.0/24: live 203.0.113.99, rendered 203.0.113.11",
      "+ nonat_v4 10.244.1.64/26 . 198.51.100.53/32    (rendered, not live)",
      `~ chain postrouting: live ${(live.chains["postrouting"] ?? []).join(", ")}, rendered ${(state.chains["postrouting"] ?? []).join(", ")}`,
      "",
    ].join("\n"));
    assert.deepEqual(diffNft(state, undefined), [{ kind: "missing", object: "table", rendered: "the whole table", live: "no such table" }]);
  });

  it("names a rule edited in place under its old comment", () => {
    const live = cloneState(state);
    const forward = live.ruleForms["forward"] ?? [];
    const at = (live.chains["forward"] ?? []).indexOf("egw:drop-untranslatable");
    forward[at] = "[{\"accept\":null}]";
    assert.deepEqual(diffNft(state, live), [
      { kind: "different", object: "chain forward rule egw:drop-untranslatable", rendered: state.ruleForms["forward"]?.[at], live: "[{\"accept\":null}]" },
    ]);
  });
});
