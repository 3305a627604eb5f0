import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "../../../appliance/errors.js";
import { checkDnsName } from "../../../appliance/policy/dns-name.js";

const FIELD = "rules.0.destinations.1.name";

function rejection(text: string): string {
  let caught: unknown;
  try {
    checkDnsName(text, FIELD);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof AppError, `${JSON.stringify(text)} should be refused, got ${String(caught)}`);
  assert.equal(caught.code, "validation-failed");
  assert.deepEqual(caught.fields.map((problem) => problem.field), [FIELD]);
  assert.ok(caught.message.startsWith(`${FIELD}: `), caught.message);
  return caught.fields[0]?.reason ?? "";
}

const label63 = "a".repeat(63);
/** Exactly 253 characters: three labels of 63, one of 57, and "com". */
const name253 = `${label63}.${label63}.${label63}.${"b".repeat(57)}.com`;

describe("checkDnsName: accepted, canonical", () => {
  const cases: [input: string, canonical: string][] = [
    ["api.example.com", "api.example.com"],
    ["API.Example.COM", "api.example.com"],
    ["api.example.com.", "api.example.com"],
    ["example.com", "example.com"],
    ["*.example.com", "*.example.com"],
    ["*.Example.com.", "*.example.com"],
    ["a-b.c0.example", "a-b.c0.example"],
    ["0a.example.com", "0a.example.com"],
    ["xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["123.example.com", "123.example.com"],
    [`${label63}.com`, `${label63}.com`],
    [name253, name253],
    [`${name253}.`, name253],
  ];
  for (const [input, canonical] of cases) {
    it(`${input.length > 40 ? `${input.slice(0, 20)}…(${input.length})` : input} → ${canonical.length > 40 ? "same" : canonical}`, () => {
      assert.equal(checkDnsName(input, FIELD), canonical);
    });
  }
  it("the 253-character case is exactly at the limit", () => assert.equal(name253.length, 253));
});

describe("checkDnsName: refused", () => {
  const cases: [input: string, reason: RegExp][] = [
    ["", /empty/],
    [".", /empty/],
    ["example", /at least two labels/],
    ["com.", /at least two labels/],
    ["*", /wildcard needs a zone/],
    ["*.", /wildcard needs a zone/],
    ["*.com", /wildcard needs a zone/],
    ["*example.com", /whole first label/],
    ["a*.example.com", /whole first label/],
    ["a.*.com", /whole first label/],
    ["*.*.example.com", /whole first label/],
    ["api.*", /whole first label/],
    ["example.com..", /empty label/],
    ["a..example.com", /empty label/],
    [".example.com", /empty label/],
    ["-a.example.com", /inner hyphens/],
    ["a-.example.com", /inner hyphens/],
    ["a_b.example.com", /inner hyphens/],
    ["a b.example.com", /inner hyphens/],
    ["bücher.example", /xn--/],
    ["api.example.com/24", /inner hyphens/],
    [`${"a".repeat(64)}.com`, /longer than 63/],
    [`${name253.slice(0, -3)}abc.com`, /longer than 253/],
    ["192.0.2.1", /IP address/],
    ["192.0.2.1.", /IP address/],
    ["2001:db8::1", /IP address/],
    ["[2001:db8::1]", /IP address/],
    ["example.123", /all-numeric/],
  ];
  for (const [input, reason] of cases) {
    it(`${JSON.stringify(input.length > 40 ? `${input.slice(0, 20)}…(${input.length})` : input)}`, () => {
      assert.match(rejection(input), reason);
    });
  }
});
