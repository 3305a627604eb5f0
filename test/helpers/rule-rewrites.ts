import { join } from "node:path";
import type { Mapping } from "../../appliance/model.js";
import type { RulesetOptions } from "../../appliance/nft/ruleset.js";
import type { GuardInputs } from "../../appliance/nft/state.js";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

/**
 * The table behind test/unit/fixtures/listing-rewritten.json, a real `nft -j list table` of it after the
 * REWRITES below (captured by test/integration/rule-drift.test.ts with EGW_UPDATE_GOLDEN=1). Every guard is on,
 * the peer talks IPv6 (written unnormalised, as an operator might) and unmapped traffic is masqueraded, so the
 * listing shows each way nft spells a rule otherwise than it was sent.
 */
export const REWRITTEN_LISTING = join(PACKAGE_ROOT, "test/unit/fixtures/listing-rewritten.json");

export const REWRITE_OPTIONS: RulesetOptions = {
  table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "masquerade",
  sourceBinding: "next-hop", failClosedMark: 0x10000000,
  peerGuard: { syncInterface: "sync", localAddress: "fd00:ffff::1", peerAddress: "FD00:ffff:0:0::2", conntrackdPort: 3780, replicationPort: 8443 },
};

export const REWRITE_MAPPINGS: Mapping[] = [
  { cluster: "prod", name: "web", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", destinations: ["198.51.100.0/24"], excludedDestinations: [], labels: {} },
  { cluster: "prod", name: "v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10", destinations: [], excludedDestinations: [], labels: {} },
];
export const REWRITE_EGRESS_IPS = ["203.0.113.10", "2001:db8::10"];
export const REWRITE_GUARDS: GuardInputs = {
  claimed: ["10.244.0.0/16", "fd00:10:244::/48"],
  bound: [{ mac: "02:00:00:00:00:11", prefix: "10.244.1.0/24" }, { mac: "02:00:00:00:00:11", prefix: "fd00:10:244:1::/64" }],
};

export interface RuleRewrite {
  chain: string;
  comment: string;
  /** The new rule in nft's text syntax, written over the old one in place (`nft replace rule … handle N`), comment kept. */
  rule: string;
  /** Whether it does something else than the rendered rule (drift), or the same spelled otherwise (not drift). */
  drift: boolean;
}

export const REWRITES: RuleRewrite[] = [
  // A one-element set and a protocol number, where the rendered rule has the number and nft lists the name.
  { chain: "input", comment: "egw:vrrp-guard", rule: 'meta l4proto { 112 } counter name "guard_vrrp" drop', drift: false },
  // A /128 prefix for a single address, in canonical spelling where the rendered rule has the configured one.
  { chain: "input", comment: "egw:vrrp-from-peer", rule: 'iifname "sync" ip6 saddr fd00:ffff::2/128 ip6 daddr fd00:ffff::1 meta l4proto vrrp accept', drift: false },
  // Anonymous counters that have counted, flags in another order, an explicit protocol that the port match
  // implies (nft leaves it out of the listing itself).
  { chain: "postrouting", comment: "egw:unmapped-masquerade", rule: "counter packets 42 bytes 4200 masquerade", drift: false },
  { chain: "forward", comment: "egw:drop-untranslatable", rule: 'oifname "outside" ct state untracked,invalid counter packets 3 bytes 180 drop', drift: false },
  { chain: "input", comment: "egw:replication-guard", rule: 'meta l4proto tcp tcp dport 8443 counter name "guard_replication" drop', drift: false },
  // Edited in place: the guard now lets through what it dropped, under the same comment.
  { chain: "input", comment: "egw:conntrackd-guard", rule: 'udp dport 3780 counter name "guard_conntrackd" accept', drift: true },
];
