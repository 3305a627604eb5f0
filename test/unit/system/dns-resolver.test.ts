import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "../../../appliance/errors.js";
import { combineFamilies, DnsResolver, parseDnsServer } from "../../../appliance/system/dns-resolver.js";

const FIELD = "policy.dns.servers.0";

function dnsError(code: string, query = "queryA"): Error {
  return Object.assign(new Error(`${query} ${code} api.example.com`), { code });
}

const ok = (...addresses: [string, number][]) => ({ status: "fulfilled" as const, value: addresses.map(([address, ttl]) => ({ address, ttl })) });
const no = (code: string, query?: string) => ({ status: "rejected" as const, reason: dnsError(code, query) });

describe("combineFamilies: one lookup from its A and AAAA queries", () => {
  it("joins both families' addresses with their TTLs", () => {
    assert.deepEqual(combineFamilies(ok(["192.0.2.1", 60]), ok(["2001:db8::1", 30])), {
      status: "answer", addresses: [{ address: "192.0.2.1", ttl: 60 }, { address: "2001:db8::1", ttl: 30 }],
    });
  });

  it("takes NODATA and NXDOMAIN as an empty answer for that family", () => {
    assert.deepEqual(combineFamilies(ok(["192.0.2.1", 60]), no("ENODATA", "queryAaaa")), { status: "answer", addresses: [{ address: "192.0.2.1", ttl: 60 }] });
    assert.deepEqual(combineFamilies(no("ENOTFOUND"), no("ENOTFOUND", "queryAaaa")), { status: "answer", addresses: [] });
  });

  for (const code of ["ETIMEOUT", "ESERVFAIL", "EREFUSED", "ECONNREFUSED", "ECANCELLED"]) {
    it(`answers for the other family when one gets ${code}, and says which failed`, () => {
      const result = combineFamilies(ok(["192.0.2.1", 60]), no(code, "queryAaaa"));
      assert.equal(result.status, "answer");
      assert.deepEqual(result.status === "answer" ? result.addresses : [], [{ address: "192.0.2.1", ttl: 60 }]);
      assert.match(result.status === "answer" ? result.partialFailure ?? "" : "", new RegExp(`^AAAA: queryAaaa ${code}`));
    });
  }

  it("names both families when both fail, and an error without a code by its message", () => {
    const result = combineFamilies(no("ETIMEOUT"), { status: "rejected", reason: new Error("boom") });
    assert.deepEqual(result, { status: "failed", error: "A: queryA ETIMEOUT api.example.com; AAAA: boom" });
  });
});

describe("parseDnsServer", () => {
  const accepted: [string, string][] = [
    ["192.0.2.53", "192.0.2.53"],
    [" 192.0.2.53 ", "192.0.2.53"],
    ["192.0.2.53:5353", "192.0.2.53:5353"],
    ["2001:db8::53", "2001:db8::53"],
    ["[2001:db8::53]", "2001:db8::53"],
    ["[2001:db8::53]:5353", "[2001:db8::53]:5353"],
    ["127.0.0.1:65535", "127.0.0.1:65535"],
  ];
  for (const [input, output] of accepted) {
    it(`accepts ${JSON.stringify(input)} as ${output}`, () => assert.equal(parseDnsServer(input, FIELD), output));
  }

  const refused = ["", "dns.example.com", "192.0.2", "192.0.2.256", "192.0.2.53:", "192.0.2.53:0", "192.0.2.53:65536",
    "2001:db8::53:5353x", "[192.0.2.53]:53", "[2001:db8::53]:", "[2001:db8::53]:99999", "fe80::1%eth0", "[fe80::1%eth0]:53", "[]"];
  for (const input of refused) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseDnsServer(input, FIELD), (error: unknown) => {
        assert.ok(error instanceof AppError);
        assert.equal(error.code, "validation-failed");
        assert.deepEqual(error.fields.map((problem) => problem.field), [FIELD]);
        return true;
      });
    });
  }

  it("the resolver refuses a bad server when it is built, naming its position", () => {
    assert.throws(() => new DnsResolver({ servers: ["192.0.2.53", "nope"], timeoutMs: 500, tries: 1 }), (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.deepEqual(error.fields.map((problem) => problem.field), ["servers.1"]);
      return true;
    });
  });
});
