import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError, ERROR_CATALOGUE, errorMessage, invalidField, PROBLEM_MEMBERS, type ErrorCode, type ProblemExtra } from "../../appliance/errors.js";

/**
 * The codes clients and operators may rely on. Adding, renaming or removing one is an API change: update this
 * list on purpose, together with the docs.
 */
const EXPECTED_CODES: Record<ErrorCode, number> = {
  "malformed-json": 400,
  "unauthorized": 401,
  "forbidden": 403,
  "not-owned": 403,
  "not-found": 404,
  "conflict": 409,
  "overlap": 409,
  "in-use": 409,
  "precondition-failed": 412,
  "payload-too-large": 413,
  "unsupported-media-type": 415,
  "validation-failed": 422,
  "quota-exceeded": 403,
  "floor-conflict": 403,
  "rate-limited": 429,
  "apply-failed": 500,
  "apply-timeout": 504,
  "replication-refused": 422,
  "replication-timeout": 504,
  "out-of-sync": 409,
  "digest-mismatch": 409,
  "not-follower": 409,
  "stale-epoch": 409,
  "stale-message": 409,
  "peer-unreachable": 503,
  "peer-failed": 502,
  "incompatible-peer": 409,
  "not-ready": 503,
  "translation-log-off": 404,
  "lookup-too-costly": 503,
  "internal": 500,
  "config-invalid": 500,
  "database-too-new": 500,
  "database-corrupt": 500,
  "command-failed": 500,
};

const entries = Object.entries(ERROR_CATALOGUE) as [ErrorCode, { status: number; title: string }][];

describe("ERROR_CATALOGUE inventory", () => {
  it("holds exactly the expected codes", () => {
    assert.deepEqual(Object.keys(ERROR_CATALOGUE).sort(), Object.keys(EXPECTED_CODES).sort());
  });

  it("keeps each code's HTTP status", () => {
    assert.deepEqual(Object.fromEntries(entries.map(([code, entry]) => [code, entry.status])), EXPECTED_CODES);
  });

  for (const [code, entry] of entries) {
    it(`${code}: kebab-case code, 4xx/5xx status, a title`, () => {
      assert.match(code, /^[a-z]+(-[a-z]+)*$/);
      assert.ok(Number.isInteger(entry.status), "status is an integer");
      assert.ok(entry.status >= 400 && entry.status <= 599, `status ${entry.status} is 4xx or 5xx`);
      assert.equal(typeof entry.title, "string");
      assert.ok(entry.title.trim().length > 0, "title is not empty");
      assert.equal(entry.title, entry.title.trim(), "title has no surrounding whitespace");
      assert.ok(!entry.title.endsWith("."), "titles are phrases, not sentences with a full stop");
    });
  }

  it("titles are unique", () => {
    const titles = entries.map(([, entry]) => entry.title);
    const duplicates = titles.filter((title, i) => titles.indexOf(title) !== i);
    assert.deepEqual(duplicates, []);
  });
});

describe("AppError", () => {
  for (const [code, entry] of entries) {
    it(`${code} takes status and title from the catalogue`, () => {
      const error = new AppError(code, "something specific");
      assert.equal(error.code, code);
      assert.equal(error.status, entry.status);
      assert.equal(error.title, entry.title);
      assert.equal(error.message, "something specific");
    });
  }

  it("is an Error named AppError with a stack", () => {
    const error = new AppError("internal", "boom");
    assert.ok(error instanceof Error);
    assert.ok(error instanceof AppError);
    assert.equal(error.name, "AppError");
    assert.match(error.stack ?? "", /AppError: boom/);
  });

  it("defaults to no fields, no extra, no headers and no cause", () => {
    const error = new AppError("not-found", "no such cluster: prod");
    assert.deepEqual(error.fields, []);
    assert.deepEqual(error.extra, {});
    assert.deepEqual(error.headers, {});
    assert.equal(error.cause, undefined);
    assert.equal(Object.hasOwn(error, "cause"), false, "no cause property at all, so logs do not print 'cause: undefined'");
  });

  it("carries fields, extra and cause", () => {
    const cause = new Error("SQLITE_BUSY");
    const fields = [{ field: "mappings.0.sourceCidr", reason: "overlaps mapping b" }, { field: "mappings.1.egressIp", reason: "not owned" }];
    const error = new AppError("conflict", "two problems", { fields, cause, extra: { conflictsWith: "b" } });
    assert.deepEqual(error.fields, fields);
    assert.equal(error.cause, cause);
    assert.deepEqual(error.extra, { conflictsWith: "b" });
  });

  it("extra cannot carry a standard member: refused by type, and dropped if smuggled in with a cast", () => {
    // @ts-expect-error a code in extra would override the catalogue's code on the wire
    const typed = new AppError("conflict", "x", { extra: { code: "out-of-sync" } });
    assert.deepEqual(typed.extra, {});
    const smuggled = Object.fromEntries([...PROBLEM_MEMBERS, "conflictsWith"].map((member) => [member, "from extra"])) as ProblemExtra;
    const error = new AppError("conflict", "x", { extra: smuggled });
    assert.deepEqual(error.extra, { conflictsWith: "from extra" });
    assert.equal(error.code, "conflict");
  });

  it("carries the headers its answer needs", () => {
    const error = new AppError("rate-limited", "slow down", { headers: { "Retry-After": "3" } });
    assert.deepEqual(error.headers, { "Retry-After": "3" });
  });

  it("keeps a falsy but defined cause", () => {
    assert.equal(new AppError("internal", "x", { cause: 0 }).cause, 0);
    assert.equal(new AppError("internal", "x", { cause: null }).cause, null);
  });
});

describe("invalidField", () => {
  it("is a one-field validation-failed error whose detail names the field", () => {
    const error = invalidField("sourceCidr", "has host bits set");
    assert.ok(error instanceof AppError);
    assert.equal(error.code, "validation-failed");
    assert.equal(error.status, 422);
    assert.deepEqual(error.fields, [{ field: "sourceCidr", reason: "has host bits set" }]);
    assert.equal(error.message, "sourceCidr: has host bits set");
  });

  it("takes an explicit detail", () => {
    const error = invalidField("name", "must be a DNS label", "cluster name \"Prod\" must be a DNS label");
    assert.equal(error.message, "cluster name \"Prod\" must be a DNS label");
    assert.deepEqual(error.fields, [{ field: "name", reason: "must be a DNS label" }]);
  });
});

describe("errorMessage", () => {
  const cases: [unknown, string][] = [
    [new Error("disk full"), "disk full"],
    [new AppError("internal", "boom"), "boom"],
    [new TypeError("bad type"), "bad type"],
    ["plain string", "plain string"],
    [42, "42"],
    [undefined, "undefined"],
    [null, "null"],
  ];
  for (const [input, expected] of cases) {
    it(`${String(input)} → ${expected}`, () => assert.equal(errorMessage(input), expected));
  }
});
