import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import type { Mapping } from "../../appliance/model.js";
import { batch, type Command } from "../../appliance/nft/json.js";
import { parseTableListing } from "../../appliance/nft/readback.js";
import { desiredNftState, renderFull, renderIncremental, type RulesetOptions } from "../../appliance/nft/ruleset.js";
import { diffStates, SET_NAMES, type GuardInputs, type NftState } from "../../appliance/nft/state.js";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

/** A real `nft -j list table inet egress_gateway` of READBACK_MAPPINGS. Set EGW_UPDATE_GOLDEN=1 (as root) to recapture. */
const LISTING = join(PACKAGE_ROOT, "test/unit/fixtures/listing.json");

const OPTIONS: RulesetOptions = {
  table: "egress_gateway", insideInterface: "inside", outsideInterface: "outside", unmappedTraffic: "drop",
  sourceBinding: "next-hop", failClosedMark: 0x10000000,
  peerGuard: { syncInterface: "sync", localAddress: "192.168.255.1", peerAddress: "192.168.255.2", conntrackdPort: 3780, replicationPort: 8443 },
};

const mapping = (name: string, sourceCidr: string, egressIp: string, extra: Partial<Mapping> = {}): Mapping => ({
  cluster: "prod", name, sourceCidr, egressIp, destinations: [], excludedDestinations: [], labels: {}, ...extra,
});

/** Includes single-address prefixes, which nft lists as bare addresses, in plain and concatenated interval maps. */
const READBACK_MAPPINGS: Mapping[] = [
  mapping("web", "10.244.1.0/26", "203.0.113.10", { destinations: ["198.51.100.0/24", "192.0.2.10/32"], excludedDestinations: ["198.51.100.128/25"] }),
  mapping("batch", "10.244.2.0/24", "203.0.113.10"),
  mapping("host", "10.244.3.7/32", "203.0.113.11"),
  mapping("v6", "fd00:10:244:1::/64", "2001:db8::10"),
  mapping("v6host", "fd00:10:244:2::5/128", "2001:db8::10", { destinations: ["2001:db8:100::/48"], excludedDestinations: ["2001:db8:100::1/128"] }),
];
const READBACK_EGRESS_IPS = ["203.0.113.10", "203.0.113.11", "2001:db8::10"];
/** Bound host routes (/32, /128) are listed as bare addresses inside the MAC concatenation too. */
const READBACK_GUARDS: GuardInputs = {
  claimed: ["10.244.0.0/16", "fd00:10:244::/48"],
  bound: [
    { mac: "02:00:00:00:00:11", prefix: "10.244.1.0/24" },
    { mac: "02:00:00:00:00:12", prefix: "10.244.3.7/32" },
    { mac: "02:00:00:00:00:11", prefix: "fd00:10:244:1::/64" },
    { mac: "02:00:00:00:00:12", prefix: "fd00:10:244:2::5/128" },
  ],
};
const readbackState = (): NftState => desiredNftState(OPTIONS, READBACK_MAPPINGS, READBACK_EGRESS_IPS, READBACK_GUARDS);

const plain = (state: NftState) => ({
  sets: Object.fromEntries(SET_NAMES.map((n) => [n, Object.fromEntries([...state.sets[n]].sort())])),
  counters: [...state.counters].sort(),
  chains: state.chains,
});

/** The statements of the rule with this comment, as renderFull sends them. */
const renderedExpr = (state: NftState, comment: string): unknown =>
  renderFull(OPTIONS, state).map((c) => (c["add"] as { rule?: { comment: string; expr: unknown } } | undefined)?.rule).find((r) => r?.comment === comment)?.expr;

/** A listing around the given items, as nft prints it. */
const listing = (...items: Record<string, unknown>[]) => ({
  nftables: [{ metainfo: { version: "1.0.6", release_name: "Lester Gooch #5", json_schema_version: 1 } }, { table: { family: "inet", name: "egress_gateway", handle: 1 } }, ...items],
});
const setItem = (name: string, extra: Record<string, unknown>) => ({ map: { family: "inet", name, table: "egress_gateway", handle: 2, ...extra } });

describe("parseTableListing on the captured listing", () => {
  const captured = (): unknown => JSON.parse(readFileSync(LISTING, "utf8"));

  it("is a real listing that shows single-address prefixes as bare addresses", () => {
    const text = readFileSync(LISTING, "utf8");
    assert.match(text, /"version": "\d+\.\d+/, "captured from nft");
    const items = (captured() as { nftables: Record<string, { name?: string; elem?: unknown[] }>[] }).nftables;
    const snatV4 = items.find((i) => i["map"]?.name === "snat_v4")?.["map"];
    assert.ok(snatV4?.elem?.some((e) => Array.isArray(e) && e[0] === "10.244.3.7"), "10.244.3.7/32 is listed as a bare address");
    const dstV4 = JSON.stringify(items.find((i) => i["map"]?.name === "snat_dst_v4"));
    assert.ok(dstV4.includes("\"192.0.2.10\"") && !/"len":\s*32/.test(dstV4), "the /32 destination is bare inside a concatenation");
    const nonatV6 = JSON.stringify(items.find((i) => i["set"]?.name === "nonat_v6"));
    assert.ok(nonatV6.includes("\"2001:db8:100::1\"") && !/"len":\s*128/.test(nonatV6), "the /128 exclusion is bare");
  });

  it("parses to exactly the desired state", () => {
    const parsed = parseTableListing(captured());
    assert.deepEqual(diffStates(readbackState(), parsed), []);
    assert.deepEqual(plain(parsed), plain(readbackState()));
  });

  it("puts the host length back on bare addresses in interval sets", () => {
    const parsed = parseTableListing(captured());
    assert.equal(parsed.sets.snat_v4.get("10.244.3.7/32"), "203.0.113.11");
    assert.equal(parsed.sets.snat_v4.has("10.244.3.7"), false);
    assert.equal(parsed.sets.snat_dst_v4.get("10.244.1.0/26 . 192.0.2.10/32"), "203.0.113.10");
    assert.equal(parsed.sets.snat_dst_v6.get("fd00:10:244:2::5/128 . 2001:db8:100::/48"), "2001:db8::10");
    assert.equal(parsed.sets.nonat_v6.get("fd00:10:244:2::5/128 . 2001:db8:100::1/128"), "");
  });

  it("does not add a length to the plain address keys of the counter maps", () => {
    const parsed = parseTableListing(captured());
    assert.deepEqual([...parsed.sets.eip_out_v4.keys()].sort(), ["203.0.113.10", "203.0.113.11"]);
    assert.deepEqual([...parsed.sets.eip_in_v6], [["2001:db8::10", "in_v6_2001_db8__10"]]);
  });

  it("reads counters and chains with rule comments in order", () => {
    const parsed = parseTableListing(captured());
    assert.deepEqual([...parsed.counters].sort(), [...readbackState().counters].sort());
    assert.deepEqual(parsed.chains, readbackState().chains);
  });

  it("notices a missing element in the captured listing", () => {
    const raw = captured() as { nftables: Record<string, { name?: string; elem?: unknown[] }>[] };
    const snatV4 = raw.nftables.find((i) => i["map"]?.name === "snat_v4")?.["map"];
    assert.ok(snatV4?.elem);
    snatV4.elem = snatV4.elem.filter((e) => !(Array.isArray(e) && e[0] === "10.244.3.7"));
    assert.deepEqual(diffStates(readbackState(), parseTableListing(raw)), [{ what: "set snat_v4", detail: "1 missing, 0 different, 0 unexpected" }]);
  });
});

describe("parseTableListing on hand-made listings", () => {
  it("an empty or table-only listing gives an empty state", () => {
    for (const input of [{}, { nftables: [] }, listing()]) {
      const state = parseTableListing(input);
      assert.ok(SET_NAMES.every((n) => state.sets[n].size === 0));
      assert.equal(state.counters.size, 0);
      assert.deepEqual(state.chains, {});
    }
  });

  it("a bare /32 and /128 in single-field interval maps", () => {
    const state = parseTableListing(listing(
      setItem("snat_v4", { type: "ipv4_addr", map: "ipv4_addr", flags: ["interval"], elem: [["192.0.2.1", "203.0.113.10"], [{ prefix: { addr: "10.0.0.0", len: 8 } }, "203.0.113.10"]] }),
      setItem("snat_v6", { type: "ipv6_addr", map: "ipv6_addr", flags: ["interval"], elem: [["fd00::1", "2001:db8::1"]] }),
    ));
    assert.deepEqual([...state.sets.snat_v4], [["192.0.2.1/32", "203.0.113.10"], ["10.0.0.0/8", "203.0.113.10"]]);
    assert.deepEqual([...state.sets.snat_v6], [["fd00::1/128", "2001:db8::1"]]);
  });

  it("canonicalises addresses as they are listed (keys and mapped values)", () => {
    const state = parseTableListing(listing(
      setItem("snat_v6", { type: "ipv6_addr", map: "ipv6_addr", flags: ["interval"], elem: [[{ prefix: { addr: "FD00:0:0:0::", len: 64 } }, "2001:DB8:0:0:0:0:0:10"]] }),
    ));
    assert.deepEqual([...state.sets.snat_v6], [["fd00::/64", "2001:db8::10"]]);
  });

  it("unwraps elements listed with statements ({elem: {val, counter}})", () => {
    const state = parseTableListing(listing(
      setItem("snat_v4", { type: "ipv4_addr", map: "ipv4_addr", flags: ["interval"], elem: [[{ elem: { val: { prefix: { addr: "10.1.0.0", len: 16 } }, counter: { packets: 1, bytes: 60 } } }, "203.0.113.10"]] }),
    ));
    assert.deepEqual([...state.sets.snat_v4], [["10.1.0.0/16", "203.0.113.10"]]);
  });

  it("a range added by someone else shows up as an unexpected, unequal key", () => {
    const state = parseTableListing(listing(
      setItem("snat_v4", { type: "ipv4_addr", map: "ipv4_addr", flags: ["interval"], elem: [[{ range: ["10.0.0.1", "10.0.0.5"] }, "203.0.113.10"]] }),
    ));
    assert.deepEqual([...state.sets.snat_v4.keys()], ["10.0.0.1-10.0.0.5"]);
    const wanted = desiredNftState(OPTIONS, [], []);
    assert.deepEqual(diffStates(wanted, state).filter((d) => d.what.startsWith("set")), [{ what: "set snat_v4", detail: "0 missing, 0 different, 1 unexpected" }]);
  });

  it("ignores sets and maps that are not ours, but keeps unknown chains and uncommented rules visible", () => {
    const state = parseTableListing(listing(
      setItem("operator_blocklist", { type: "ipv4_addr", elem: ["192.0.2.1"] }),
      { chain: { family: "inet", table: "egress_gateway", name: "sneaky", handle: 3 } },
      { chain: { family: "inet", table: "egress_gateway", name: "forward", handle: 4 } },
      { rule: { family: "inet", table: "egress_gateway", chain: "sneaky", handle: 5, expr: [{ accept: null }] } },
    ));
    assert.ok(SET_NAMES.every((n) => state.sets[n].size === 0));
    assert.deepEqual(state.chains, { sneaky: ["(no comment)"], forward: [] });
    const differences = diffStates(desiredNftState(OPTIONS, [], []), state);
    assert.ok(differences.some((d) => d.what === "chain sneaky" && d.detail === "unexpected"));
    assert.ok(differences.some((d) => d.what === "chain forward" && d.detail.startsWith("rules []")));
    assert.ok(differences.some((d) => d.what === "chain postrouting" && d.detail === "missing"));
  });

  it("bound sets: the MAC stays a MAC (lower case, no length) and a host route gets its length back", () => {
    const state = parseTableListing(listing(
      { set: { family: "inet", name: "bound_v4", table: "egress_gateway", type: ["ether_addr", "ipv4_addr"], flags: ["interval"],
        elem: [{ concat: ["02:AB:00:00:00:11", { prefix: { addr: "10.244.1.0", len: 24 } }] }, { concat: ["02:00:00:00:00:12", "10.244.3.7"] }] } },
      { set: { family: "inet", name: "bound_v6", table: "egress_gateway", type: ["ether_addr", "ipv6_addr"], flags: ["interval"],
        elem: [{ concat: ["02:00:00:00:00:12", "fd00:10:244:2::5"] }] } },
    ));
    assert.deepEqual([...state.sets.bound_v4.keys()], ["02:ab:00:00:00:11 . 10.244.1.0/24", "02:00:00:00:00:12 . 10.244.3.7/32"]);
    assert.deepEqual([...state.sets.bound_v6.keys()], ["02:00:00:00:00:12 . fd00:10:244:2::5/128"]);
  });

  it("offenders in the spoofed sets and counter values are traffic, not drift", () => {
    const wanted = desiredNftState(OPTIONS, [], [], READBACK_GUARDS);
    const live = parseTableListing(JSON.parse(JSON.stringify({ nftables: [
      ...listing().nftables,
      ...[...wanted.counters].map((name) => ({ counter: { family: "inet", name, table: "egress_gateway", packets: 1234, bytes: 99999 } })),
      { set: { family: "inet", name: "spoofed_v4", table: "egress_gateway", type: ["ether_addr", "ipv4_addr"], flags: ["timeout"], timeout: 3600, size: 65536,
        elem: [{ elem: { val: { concat: ["02:66:00:00:00:01", "10.244.1.77"] }, timeout: 3600, expires: 3599 } }] } },
      ...SET_NAMES.filter((n) => wanted.sets[n].size > 0).map((n) => ({ set: { family: "inet", name: n, table: "egress_gateway", flags: ["interval"],
        elem: [...wanted.sets[n].keys()].map((key) => (key.includes(" . ")
          ? { concat: key.split(" . ").map((p) => (p.includes("/") ? { prefix: { addr: p.split("/")[0], len: Number(p.split("/")[1]) } } : p)) }
          : { prefix: { addr: key.split("/")[0], len: Number(key.split("/")[1]) } })) } })),
      ...Object.entries(wanted.chains).flatMap(([chain, comments]) => [
        { chain: { family: "inet", table: "egress_gateway", name: chain } },
        ...comments.map((comment) => ({ rule: { family: "inet", table: "egress_gateway", chain, comment, expr: renderedExpr(wanted, comment) } })),
      ]),
    ] })));
    assert.deepEqual(diffStates(wanted, live), []);
  });

  it("plain sets read with an empty value", () => {
    const state = parseTableListing(listing(
      { set: { family: "inet", name: "nonat_v4", table: "egress_gateway", type: ["ipv4_addr", "ipv4_addr"], flags: ["interval"], elem: [{ concat: [{ prefix: { addr: "10.0.0.0", len: 8 } }, "192.0.2.1"] }] } },
    ));
    assert.deepEqual([...state.sets.nonat_v4], [["10.0.0.0/8 . 192.0.2.1/32", ""]]);
  });
});

const isRoot = process.getuid?.() === 0;

describe("readback against the real nft in a network namespace", { skip: isRoot ? false : "needs root for a network namespace" }, () => {
  const ns = `egwt-readback-${process.pid}-${randomBytes(4).toString("hex")}`;
  let dir: string;
  let files = 0;

  const nft = async (args: string[]): Promise<string> => {
    const result = await execa("ip", ["netns", "exec", ns, "nft", ...args], { reject: false, stdin: "ignore" });
    assert.equal(result.exitCode, 0, `nft ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  const applyBatch = async (commands: Command[]): Promise<void> => {
    const file = join(dir, `batch-${files++}.json`);
    writeFileSync(file, JSON.stringify(batch(commands)));
    await nft(["-j", "-f", file]);
  };
  const listRaw = async (): Promise<unknown> => JSON.parse(await nft(["-j", "list", "table", "inet", OPTIONS.table]));
  const readBack = async (): Promise<NftState> => parseTableListing(await listRaw());

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-readback-test-"));
    await execa("ip", ["netns", "add", ns]);
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await execa("ip", ["netns", "delete", ns], { reject: false });
    const { stdout } = await execa("ip", ["netns", "list"]);
    assert.ok(!stdout.split("\n").some((line) => line.split(" ")[0] === ns), `namespace ${ns} was removed`);
  });

  it("the applied full ruleset reads back as the desired state", async () => {
    const desired = readbackState();
    await applyBatch(renderFull(OPTIONS, desired));
    const raw = await listRaw();
    if (process.env["EGW_UPDATE_GOLDEN"] === "1") writeFileSync(LISTING, `${JSON.stringify(raw, null, 2)}\n`);
    const parsed = parseTableListing(raw);
    assert.deepEqual(diffStates(desired, parsed), []);
    assert.deepEqual(plain(parsed), plain(desired));
    // The captured fixture still describes what this nft lists.
    assert.deepEqual(plain(parseTableListing(JSON.parse(readFileSync(LISTING, "utf8")))), plain(parsed));
  });

  it("a deleted element and an unexpected element are reported in exactly those sets", async () => {
    const desired = readbackState();
    await applyBatch(renderFull(OPTIONS, desired));
    await nft(["delete", "element", "inet", OPTIONS.table, "snat_v4", "{ 10.244.2.0/24 }"]);
    await nft(["add", "element", "inet", OPTIONS.table, "nonat_v4", "{ 10.244.9.0/24 . 192.0.2.0/24 }"]);
    assert.deepEqual(diffStates(desired, await readBack()), [
      { what: "set snat_v4", detail: "1 missing, 0 different, 0 unexpected" },
      { what: "set nonat_v4", detail: "0 missing, 0 different, 1 unexpected" },
    ]);
  });

  it("a bare host element added by hand matches the desired /32 (no false drift)", async () => {
    const desired = readbackState();
    await applyBatch(renderFull(OPTIONS, desired));
    await nft(["delete", "element", "inet", OPTIONS.table, "snat_v4", "{ 10.244.3.7/32 }"]);
    await nft(["add", "element", "inet", OPTIONS.table, "snat_v4", "{ 10.244.3.7 : 203.0.113.11 }"]);
    assert.deepEqual(diffStates(desired, await readBack()), []);
  });

  it("offenders recorded in spoofed_v4/v6 are not drift; a changed binding is", async () => {
    const desired = readbackState();
    await applyBatch(renderFull(OPTIONS, desired));
    await nft(["add", "element", "inet", OPTIONS.table, "spoofed_v4", "{ 02:66:00:00:00:01 . 10.244.1.77 }"]);
    await nft(["add", "element", "inet", OPTIONS.table, "spoofed_v6", "{ 02:66:00:00:00:01 . fd00:10:244:1::77 }"]);
    assert.deepEqual(diffStates(desired, await readBack()), []);
    await nft(["delete", "element", "inet", OPTIONS.table, "bound_v4", "{ 02:00:00:00:00:11 . 10.244.1.0/24 }"]);
    await nft(["add", "element", "inet", OPTIONS.table, "bound_v4", "{ 02:66:00:00:00:01 . 10.244.1.0/24 }"]);
    assert.deepEqual(diffStates(desired, await readBack()), [{ what: "set bound_v4", detail: "1 missing, 0 different, 1 unexpected" }]);
  });

  it("a changed mapped value, a removed counter reference and a flushed chain are reported", async () => {
    const desired = readbackState();
    await applyBatch(renderFull(OPTIONS, desired));
    await nft(["delete", "element", "inet", OPTIONS.table, "snat_v6", "{ fd00:10:244:1::/64 }"]);
    await nft(["add", "element", "inet", OPTIONS.table, "snat_v6", "{ fd00:10:244:1::/64 : 2001:db8::99 }"]);
    await nft(["flush", "chain", "inet", OPTIONS.table, "forward"]);
    assert.deepEqual(diffStates(desired, await readBack()), [
      { what: "set snat_v6", detail: "0 missing, 1 different, 0 unexpected" },
      { what: "chain forward", detail: "rules [], expected [egw:established, egw:forward-only-inside, egw:spoof-guard-v4, egw:spoof-guard-v6, egw:drop-untranslatable, egw:policy]" },
    ]);
  });

  it("re-applying the full ruleset repairs drift and leaves other tables alone", async () => {
    await nft(["add", "table", "inet", "operator_rules"]);
    await nft(["add", "chain", "inet", "operator_rules", "input", "{ type filter hook input priority 0; policy accept; }"]);
    await nft(["add", "rule", "inet", "operator_rules", "input", "tcp", "dport", "22", "accept", "comment", "\"operator\""]);
    const desired = readbackState();
    await applyBatch(renderFull(OPTIONS, desired));
    await nft(["flush", "set", "inet", OPTIONS.table, "nonat_v4"]);
    assert.notDeepEqual(diffStates(desired, await readBack()), []);
    await applyBatch(renderFull(OPTIONS, desired));
    assert.deepEqual(diffStates(desired, await readBack()), []);
    const operator = JSON.parse(await nft(["-j", "list", "table", "inet", "operator_rules"])) as { nftables: Record<string, { comment?: string }>[] };
    assert.deepEqual(operator.nftables.filter((i) => i["rule"]).map((i) => i["rule"]?.comment), ["operator"]);
    await nft(["delete", "table", "inet", "operator_rules"]);
  });

  const incremental: [label: string, from: [Mapping[], string[]], to: [Mapping[], string[]]][] = [
    ["a mapping's egress IP changes", [READBACK_MAPPINGS, READBACK_EGRESS_IPS], [READBACK_MAPPINGS.map((m) => (m.name === "batch" ? { ...m, egressIp: "203.0.113.11" } : m)), READBACK_EGRESS_IPS]],
    ["a destination-restricted mapping changes egress IP", [READBACK_MAPPINGS, READBACK_EGRESS_IPS], [READBACK_MAPPINGS.map((m) => (m.name === "web" ? { ...m, egressIp: "203.0.113.11" } : m)), READBACK_EGRESS_IPS]],
    ["a source range is widened in place", [[mapping("a", "10.244.1.0/26", "203.0.113.10")], ["203.0.113.10"]], [[mapping("a", "10.244.1.0/24", "203.0.113.10")], ["203.0.113.10"]]],
    ["a range is split in two", [[mapping("a", "10.244.0.0/16", "203.0.113.10")], ["203.0.113.10"]], [[mapping("a", "10.244.0.0/17", "203.0.113.10"), mapping("b", "10.244.128.0/17", "203.0.113.10")], ["203.0.113.10"]]],
    ["egress IPs are swapped for new ones (counters come and go)", [READBACK_MAPPINGS, READBACK_EGRESS_IPS], [[mapping("n", "10.244.1.0/26", "198.51.100.1"), mapping("n6", "fd00:10:244:1::/64", "2001:db8::20")], ["198.51.100.1", "2001:db8::20"]]],
    ["everything is removed", [READBACK_MAPPINGS, READBACK_EGRESS_IPS], [[], []]],
    ["everything is added to an empty table", [[], []], [READBACK_MAPPINGS, READBACK_EGRESS_IPS]],
  ];
  for (const [label, [fromMappings, fromIps], [toMappings, toIps]] of incremental) {
    it(`an incremental batch is accepted and reaches the target: ${label}`, async () => {
      const from = desiredNftState(OPTIONS, fromMappings, fromIps);
      const to = desiredNftState(OPTIONS, toMappings, toIps);
      await applyBatch(renderFull(OPTIONS, from));
      assert.deepEqual(diffStates(from, await readBack()), []);
      const commands = renderIncremental(OPTIONS, from, to);
      assert.ok(commands.length > 0);
      await applyBatch(commands);
      assert.deepEqual(diffStates(to, await readBack()), []);
    });
  }
});
