import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "../../appliance/errors.js";
import {
  findOverlap, hostPrefixLength, parseAddress, parsePrefix, prefixContains, prefixContainsAddress, prefixesOverlap, toSortableBytes,
  type Prefix,
} from "../../appliance/net/cidr.js";

const FIELD = "mappings.2.sourceCidr";

/** Asserts that `fn` throws a one-field validation error for FIELD whose reason matches `reason`. */
function assertInvalid(fn: () => unknown, reason?: RegExp | string): AppError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof AppError, `expected an AppError, got ${String(caught)}`);
  assert.equal(caught.code, "validation-failed");
  assert.equal(caught.status, 422);
  assert.equal(caught.fields.length, 1);
  assert.equal(caught.fields[0]?.field, FIELD);
  assert.ok(caught.message.startsWith(`${FIELD}: `), `detail names the field: ${caught.message}`);
  if (typeof reason === "string") assert.ok(caught.fields[0]?.reason.includes(reason), `reason ${JSON.stringify(caught.fields[0]?.reason)} includes ${JSON.stringify(reason)}`);
  else if (reason) assert.match(caught.fields[0]?.reason ?? "", reason);
  return caught;
}

const p = (text: string): Prefix => parsePrefix(text, FIELD);

describe("parsePrefix: canonical forms", () => {
  const cases: [input: string, cidr: string, network: string, length: number, family: 4 | 6][] = [
    ["10.244.1.0/26", "10.244.1.0/26", "10.244.1.0", 26, 4],
    ["0.0.0.0/0", "0.0.0.0/0", "0.0.0.0", 0, 4],
    ["255.255.255.255/32", "255.255.255.255/32", "255.255.255.255", 32, 4],
    ["192.0.2.10/32", "192.0.2.10/32", "192.0.2.10", 32, 4],
    ["::/0", "::/0", "::", 0, 6],
    ["::1/128", "::1/128", "::1", 128, 6],
    ["2001:DB8::/32", "2001:db8::/32", "2001:db8::", 32, 6],
    ["2001:0db8:0000:0000:0000:0000:0000:0000/32", "2001:db8::/32", "2001:db8::", 32, 6],
    ["fd00:10:244:0001::/64", "fd00:10:244:1::/64", "fd00:10:244:1::", 64, 6],
    ["FD00:0010:0244:0000:0000:0000:0000:0000/48", "fd00:10:244::/48", "fd00:10:244::", 48, 6],
    // RFC 5952 4.2.3: the longest run of zero groups is compressed; on a tie, the first.
    ["2001:db8:0:0:1:0:0:1/128", "2001:db8::1:0:0:1/128", "2001:db8::1:0:0:1", 128, 6],
    ["2001:db8:0:0:1:0:0:0/128", "2001:db8:0:0:1::/128", "2001:db8:0:0:1::", 128, 6],
    // RFC 5952 4.2.2: a single zero group is not compressed.
    ["2001:db8:0:1:1:1:1:1/128", "2001:db8:0:1:1:1:1:1/128", "2001:db8:0:1:1:1:1:1", 128, 6],
    ["fe80:0:0:0:0:0:0:0/10", "fe80::/10", "fe80::", 10, 6],
    ["2001:DB8:AAAA:BBBB:CCCC:DDDD:EEEE:FFFF/128", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 128, 6],
  ];
  for (const [input, cidr, network, length, family] of cases) {
    it(`${input} → ${cidr}`, () => {
      const prefix = p(input);
      assert.equal(prefix.cidr, cidr);
      assert.equal(prefix.network, network);
      assert.equal(prefix.length, length);
      assert.equal(prefix.family, family);
    });
  }

  it("start and end are the first and last address of the range", () => {
    const v4 = p("10.244.1.0/26");
    assert.equal(v4.start, 0x0af40100n);
    assert.equal(v4.end, 0x0af4013fn);
    const all4 = p("0.0.0.0/0");
    assert.equal(all4.start, 0n);
    assert.equal(all4.end, 2n ** 32n - 1n);
    const host = p("192.0.2.10/32");
    assert.equal(host.start, host.end);
    const all6 = p("::/0");
    assert.equal(all6.start, 0n);
    assert.equal(all6.end, 2n ** 128n - 1n);
    const v6 = p("2001:db8::/32");
    assert.equal(v6.start, 0x20010db8n << 96n);
    assert.equal(v6.end, (0x20010db8n << 96n) | (2n ** 96n - 1n));
  });

  it("the canonical form parses back to itself", () => {
    for (const [input] of cases) {
      const once = p(input);
      const twice = p(once.cidr);
      assert.deepEqual(twice, once);
    }
  });
});

describe("parsePrefix: host bits set name the canonical CIDR", () => {
  const cases: [input: string, meant: string][] = [
    ["10.244.1.0/23", "10.244.0.0/23"],
    ["10.244.1.5/24", "10.244.1.0/24"],
    ["10.0.0.1/0", "0.0.0.0/0"],
    ["192.168.1.255/31", "192.168.1.254/31"],
    ["fd00:10:244:1::1/64", "fd00:10:244:1::/64"],
    ["2001:DB8:0:0:0:0:0:1/32", "2001:db8::/32"],
    ["::1/0", "::/0"],
    ["2001:db8::ff/127", "2001:db8::fe/127"],
  ];
  for (const [input, meant] of cases) {
    it(`${input} → "did you mean ${meant}?"`, () => {
      const error = assertInvalid(() => p(input), `did you mean ${meant}?`);
      assert.ok(error.fields[0]?.reason.includes("host bits"), error.fields[0]?.reason);
      // The suggestion must itself be valid.
      assert.equal(p(meant).cidr, meant);
    });
  }
});

describe("parsePrefix: prefix length boundaries", () => {
  const accepted: [string, number][] = [
    ["0.0.0.0/0", 0], ["10.0.0.0/8", 8], ["10.0.0.0/32", 32], ["::/0", 0], ["2001:db8::/128", 128], ["2001:db8::/64", 64],
  ];
  for (const [input, length] of accepted) {
    it(`accepts ${input}`, () => assert.equal(p(input).length, length));
  }

  const refused: [input: string, why: RegExp][] = [
    ["10.0.0.0/33", /prefix length "33" must be 0 to 32 for IPv4/],
    ["10.0.0.0/128", /must be 0 to 32 for IPv4/],
    ["2001:db8::/129", /prefix length "129" must be 0 to 128 for IPv6/],
    ["2001:db8::/1000", /must be 0 to 128/],
    ["10.0.0.0/", /prefix length "" must be/],
    ["10.0.0.0/abc", /prefix length "abc"/],
    ["10.0.0.0/-1", /prefix length "-1"/],
    ["10.0.0.0/+8", /prefix length "\+8"/],
    ["10.0.0.0/8.0", /prefix length "8.0"/],
    ["10.0.0.0/0x8", /prefix length "0x8"/],
    ["10.0.0.0/1e1", /prefix length "1e1"/],
    ["10.0.0.0/8/8", /prefix length "8\/8"/],
    ["2001:db8::/-0", /prefix length "-0"/],
    ["10.0.0.0", /not in CIDR notation/],
    ["", /not in CIDR notation/],
    ["abc", /not in CIDR notation/],
    ["/8", /is not an IPv4 or IPv6 address/],
    ["abc/8", /"abc" is not an IPv4 or IPv6 address/],
  ];
  for (const [input, why] of refused) {
    it(`refuses ${JSON.stringify(input)}`, () => void assertInvalid(() => p(input), why));
  }
});

describe("parsePrefix and parseAddress refuse what no operator means", () => {
  const badPrefixes: [label: string, input: string][] = [
    ["IPv4 shorthand with two parts", "10.1/8"],
    ["IPv4 shorthand with three parts", "10.1.0/16"],
    ["IPv4 as one number", "167772160/8"],
    ["IPv4 hex octet", "0x0a.0.0.0/8"],
    ["IPv4 octal-looking octet", "010.0.0.0/8"],
    ["IPv4 octet over 255", "256.0.0.0/8"],
    ["IPv4 with five parts", "10.0.0.0.0/8"],
    ["IPv6 zone id", "fe80::%eth0/64"],
    ["IPv6 zone id on a host", "fe80::1%1/128"],
    ["NUL byte in the address", "10.0.0.0\u0000/8"],
    ["NUL byte in the length", "10.0.0.0/8\u0000"],
    ["NUL byte in IPv6", "2001:db8::\u0000/32"],
    ["Arabic-Indic digit in the address", "1\u0660.0.0.0/8"],
    ["Arabic-Indic digit as length", "10.0.0.0/\u0668"],
    ["fullwidth digits", "\uff11\uff10.0.0.0/8"],
    ["fullwidth length", "10.0.0.0/\uff18"],
    ["whitespace inside the address", "10.0. 0.0/8"],
    ["IPv6 with too many groups", "1:2:3:4:5:6:7:8:9/64"],
    ["IPv6 with two '::'", "2001::db8::/32"],
    ["IPv6 group over ffff", "2001:db8:10000::/48"],
  ];
  for (const [label, input] of badPrefixes) {
    it(`prefix: ${label} (${JSON.stringify(input)})`, () => void assertInvalid(() => p(input), /is not an IPv4 or IPv6 address|prefix length/));
  }

  // ::ffff:a.b.c.d is an IPv4 host seen through an IPv6 socket; the data plane never sees it as an IPv6 source.
  // parseAddress refuses it; a prefix in that space must be refused the same way, not accepted as IPv6.
  const mappedPrefixes = ["::ffff:10.0.0.0/104", "::ffff:a00:0/104", "::ffff:192.0.2.1/128", "::ffff:0:0/96"];
  for (const input of mappedPrefixes) {
    it(`prefix: IPv4-mapped IPv6 ${input} is refused`, () => void assertInvalid(() => p(input), /IPv4-mapped/));
  }

  it("prefix: ::1.2.3.4/128 is not silently turned into a different address", () => {
    // ipaddr.js reads the deprecated "::a.b.c.d" form as ::ffff:a.b.c.d; accepting it would store an address
    // the operator did not write (RFC 4291 reads it as ::102:304).
    let result: Prefix | undefined;
    try {
      result = p("::1.2.3.4/128");
    } catch (error) {
      assert.ok(error instanceof AppError && error.code === "validation-failed");
      return;
    }
    assert.equal(result.cidr, "::102:304/128", `accepted, but as ${result.cidr}`);
  });

  const badAddresses: [label: string, input: string, why: RegExp][] = [
    ["empty", "", /is not an IPv4 or IPv6 address/],
    ["IPv4 shorthand", "10.1", /is not an IPv4 or IPv6 address/],
    ["IPv4 as one number", "167772161", /is not an IPv4 or IPv6 address/],
    ["IPv4 leading zero", "10.0.0.01", /is not an IPv4 or IPv6 address/],
    ["IPv4 hex", "0x0a.0.0.1", /is not an IPv4 or IPv6 address/],
    ["a prefix is not an address", "10.0.0.1/32", /is not an IPv4 or IPv6 address/],
    ["zone id", "fe80::1%eth0", /is not an IPv4 or IPv6 address/],
    ["numeric zone id", "fe80::1%2", /is not an IPv4 or IPv6 address/],
    ["IPv4-mapped dotted", "::ffff:192.0.2.1", /IPv4-mapped/],
    ["IPv4-mapped hex", "::ffff:c000:201", /IPv4-mapped/],
    ["NUL byte", "192.0.2.1\u0000", /is not an IPv4 or IPv6 address/],
    ["NUL byte in IPv6", "2001:db8::1\u0000", /is not an IPv4 or IPv6 address/],
    ["Arabic-Indic digits", "\u0661\u0669\u0662.0.2.1", /is not an IPv4 or IPv6 address/],
    ["fullwidth digits", "\uff11\uff19\uff12.0.2.1", /is not an IPv4 or IPv6 address/],
    ["inner whitespace", "192.0. 2.1", /is not an IPv4 or IPv6 address/],
    ["hostname", "localhost", /is not an IPv4 or IPv6 address/],
  ];
  for (const [label, input, why] of badAddresses) {
    it(`address: ${label} (${JSON.stringify(input)})`, () => void assertInvalid(() => parseAddress(input, FIELD), why));
  }
});

describe("whitespace around the text is tolerated and never reaches the canonical form", () => {
  const cases: [string, string][] = [
    [" 10.0.0.0/8", "10.0.0.0/8"],
    ["10.0.0.0/8 ", "10.0.0.0/8"],
    ["\t10.0.0.0/8\n", "10.0.0.0/8"],
    ["  2001:db8::/32\r\n", "2001:db8::/32"],
  ];
  for (const [input, cidr] of cases) {
    it(`prefix ${JSON.stringify(input)} → ${cidr}`, () => assert.equal(p(input).cidr, cidr));
  }
  it("address with surrounding whitespace", () => {
    assert.equal(parseAddress(" 192.0.2.1\n", FIELD).address, "192.0.2.1");
    assert.equal(parseAddress("\t2001:DB8::1 ", FIELD).address, "2001:db8::1");
  });
});

describe("parseAddress: canonical forms and values", () => {
  const cases: [input: string, address: string, family: 4 | 6, value: bigint][] = [
    ["192.0.2.1", "192.0.2.1", 4, 0xc0000201n],
    ["0.0.0.0", "0.0.0.0", 4, 0n],
    ["255.255.255.255", "255.255.255.255", 4, 0xffffffffn],
    ["::", "::", 6, 0n],
    ["::1", "::1", 6, 1n],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1", 6, (0x20010db8n << 96n) | 1n],
    ["2001:0db8::0001", "2001:db8::1", 6, (0x20010db8n << 96n) | 1n],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", 6, (0x20010db8n << 96n) | (1n << 48n) | 1n],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", 6, 0x20010db8000000010001000100010001n],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6, 2n ** 128n - 1n],
  ];
  for (const [input, address, family, value] of cases) {
    it(`${input} → ${address}`, () => {
      const parsed = parseAddress(input, FIELD);
      assert.deepEqual(parsed, { family, address, value });
    });
  }
});

describe("hostPrefixLength", () => {
  it("is the length of a prefix holding exactly the address, whatever its spelling", () => {
    for (const [address, length] of [["203.0.113.10", 32], ["0.0.0.0", 32], ["2001:db8::10", 128], ["::", 128], ["FD00:0:0:0::1", 128]] as const) {
      assert.equal(hostPrefixLength(address), length, address);
      assert.equal(parsePrefix(`${address}/${length}`, FIELD).length, length, "and parsePrefix accepts it");
    }
  });
});

describe("containment and overlap truth table", () => {
  // [a, b, a contains b, b contains a, overlap]
  const table: [string, string, boolean, boolean, boolean][] = [
    ["10.0.0.0/8", "10.1.0.0/16", true, false, true],
    ["10.0.0.0/8", "10.0.0.0/8", true, true, true],
    ["10.0.0.0/8", "11.0.0.0/8", false, false, false],
    ["10.0.0.0/25", "10.0.0.128/25", false, false, false],
    ["10.0.0.0/24", "10.0.0.255/32", true, false, true],
    ["10.0.0.0/24", "10.0.1.0/32", false, false, false],
    ["10.0.0.0/31", "10.0.0.1/32", true, false, true],
    ["0.0.0.0/0", "255.255.255.255/32", true, false, true],
    ["0.0.0.0/0", "0.0.0.0/0", true, true, true],
    ["2001:db8::/32", "2001:db8:1::/48", true, false, true],
    ["2001:db8::/32", "2001:db9::/32", false, false, false],
    ["fd00::/8", "fe80::/10", false, false, false],
    ["::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", true, false, true],
    // Different families never contain or overlap, even where the integers coincide.
    ["0.0.0.0/0", "::/0", false, false, false],
    ["0.0.0.0/0", "::/96", false, false, false],
    ["10.0.0.0/8", "::/0", false, false, false],
    ["10.0.0.0/32", "::a00:0/128", false, false, false],
  ];
  for (const [a, b, aContainsB, bContainsA, overlap] of table) {
    it(`${a} vs ${b}`, () => {
      const pa = p(a);
      const pb = p(b);
      assert.equal(prefixContains(pa, pb), aContainsB, "a contains b");
      assert.equal(prefixContains(pb, pa), bContainsA, "b contains a");
      assert.equal(prefixesOverlap(pa, pb), overlap, "a overlaps b");
      assert.equal(prefixesOverlap(pb, pa), overlap, "overlap is symmetric");
    });
  }

  const addressTable: [string, string, boolean][] = [
    ["10.0.0.0/24", "10.0.0.0", true],
    ["10.0.0.0/24", "10.0.0.255", true],
    ["10.0.0.0/24", "10.0.1.0", false],
    ["10.0.0.0/24", "9.255.255.255", false],
    ["0.0.0.0/0", "::", false],
    ["::/0", "0.0.0.0", false],
    ["::/96", "0.0.0.1", false],
    ["2001:db8::/64", "2001:db8::ffff", true],
    ["2001:db8::/64", "2001:db8:0:1::", false],
  ];
  for (const [prefix, address, contained] of addressTable) {
    it(`${prefix} contains address ${address}: ${contained}`, () => {
      assert.equal(prefixContainsAddress(p(prefix), parseAddress(address, FIELD)), contained);
    });
  }
});

describe("findOverlap", () => {
  interface Item { id: string; cidr: string }
  const items = (...cidrs: string[]): Item[] => cidrs.map((cidr, i) => ({ id: `item${i}`, cidr }));
  const of = (item: Item) => p(item.cidr);
  const pairOf = (found: [Item, Item] | undefined) => found && [found[0].cidr, found[1].cidr].sort();

  const none: [label: string, cidrs: string[]][] = [
    ["empty list", []],
    ["one item", ["10.0.0.0/8"]],
    ["adjacent ranges", ["10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24"]],
    ["disjoint, unsorted", ["192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12"]],
    ["same integers, different families", ["0.0.0.0/0", "::/96"]],
    ["both whole families", ["::/0", "0.0.0.0/0"]],
    ["mixed families, disjoint", ["2001:db8::/32", "10.0.0.0/8", "fd00::/8", "192.0.2.0/24"]],
  ];
  for (const [label, cidrs] of none) {
    it(`no overlap: ${label}`, () => assert.equal(findOverlap(items(...cidrs), of), undefined));
  }

  const some: [label: string, cidrs: string[], pair: [string, string]][] = [
    ["identical prefixes", ["10.0.0.0/8", "10.0.0.0/8"], ["10.0.0.0/8", "10.0.0.0/8"]],
    ["containment, given inner first", ["10.2.0.0/16", "192.168.0.0/16", "10.0.0.0/8"], ["10.0.0.0/8", "10.2.0.0/16"]],
    ["same start, different lengths", ["10.0.0.0/30", "10.0.0.0/24"], ["10.0.0.0/24", "10.0.0.0/30"]],
    ["IPv6 containment among IPv4", ["10.0.0.0/8", "2001:db8:1::/48", "192.0.2.0/24", "2001:db8::/32"], ["2001:db8:1::/48", "2001:db8::/32"]],
    ["wide range spanning later non-adjacent ones", ["10.0.0.0/24", "10.0.2.0/24", "10.0.0.0/22"], ["10.0.0.0/22", "10.0.0.0/24"]],
    ["last of a long disjoint list", [...Array.from({ length: 50 }, (_, i) => `10.${i}.0.0/16`), "10.49.128.0/17"], ["10.49.0.0/16", "10.49.128.0/17"]],
  ];
  for (const [label, cidrs, pair] of some) {
    it(`overlap: ${label}`, () => {
      const list = items(...cidrs);
      const before = list.map((item) => item.id);
      const found = findOverlap(list, of);
      assert.deepEqual(pairOf(found), [...pair].sort());
      // The originals come back (identity), not copies, and the input is not reordered.
      assert.ok(found && list.includes(found[0]) && list.includes(found[1]) && found[0] !== found[1]);
      assert.deepEqual(list.map((item) => item.id), before);
    });
  }
});

describe("toSortableBytes", () => {
  it("is fixed-width big-endian", () => {
    assert.deepEqual([...toSortableBytes(0x0a000001n, 4)], [10, 0, 0, 1]);
    assert.deepEqual([...toSortableBytes(0n, 4)], [0, 0, 0, 0]);
    assert.deepEqual([...toSortableBytes(0xffffffffn, 4)], [255, 255, 255, 255]);
    assert.equal(toSortableBytes(1n, 6).length, 16);
    assert.deepEqual([...toSortableBytes(1n, 6)], [...Array(15).fill(0), 1]);
    assert.deepEqual([...toSortableBytes(2n ** 128n - 1n, 6)], Array(16).fill(255));
    assert.deepEqual([...toSortableBytes(0x20010db8n << 96n, 6)], [0x20, 0x01, 0x0d, 0xb8, ...Array(12).fill(0)]);
  });

  it("matches the address's own byte layout", () => {
    for (const text of ["192.0.2.1", "10.244.1.0", "2001:db8::1", "fd00:10:244:1::", "::"]) {
      const address = parseAddress(text, FIELD);
      const bytes = toSortableBytes(address.value, address.family);
      const expected = address.family === 4
        ? text.split(".").map(Number)
        : [...Buffer.from(address.value.toString(16).padStart(32, "0"), "hex")];
      assert.deepEqual([...bytes], expected, text);
    }
  });

  // A small deterministic generator so a failure is reproducible.
  function* values(bits: number, count: number): Generator<bigint> {
    const max = 2n ** BigInt(bits) - 1n;
    yield* [0n, 1n, 255n, 256n, 257n, 65535n, 65536n, 2n ** 24n, 2n ** 31n, 2n ** 32n - 1n, max - 1n, max].filter((v) => v <= max);
    let state = 0x9e3779b97f4a7c15n;
    for (let i = 0; i < count; i++) {
      state = (state * 6364136223846793005n + 1442695040888963407n) & (2n ** 64n - 1n);
      let v = state;
      if (bits > 64) v = (v << 64n) | ((state * 0x5851f42d4c957f2dn) & (2n ** 64n - 1n));
      // Spread across magnitudes, so short and long numbers (whose text or little-endian order differs) mix.
      yield (v >> BigInt(i % bits)) & max;
    }
  }

  for (const [family, bits] of [[4, 32], [6, 128]] as const) {
    it(`IPv${family}: byte order (memcmp) equals numeric order`, () => {
      const list = [...values(bits, 300)];
      const numeric = [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const bytewise = [...list].sort((a, b) => Buffer.compare(toSortableBytes(a, family), toSortableBytes(b, family)));
      assert.deepEqual(bytewise, numeric);
      for (let i = 1; i < numeric.length; i++) {
        const a = numeric[i - 1] as bigint;
        const b = numeric[i] as bigint;
        assert.equal(Math.sign(Buffer.compare(toSortableBytes(a, family), toSortableBytes(b, family))), a === b ? 0 : -1);
      }
    });
  }

  it("orders 9.0.0.0 before 10.0.0.0 (where text order would not)", () => {
    const nine = parseAddress("9.0.0.0", FIELD);
    const ten = parseAddress("10.0.0.0", FIELD);
    assert.equal(Buffer.compare(toSortableBytes(nine.value, 4), toSortableBytes(ten.value, 4)), -1);
  });
});
