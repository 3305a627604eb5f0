import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify as toYaml } from "yaml";
import { loadConfig, readAdminToken, readAdminTokens, tokenWeakness } from "../../appliance/config/load.js";
import { configSchema } from "../../appliance/config/schema.js";
import { AppError } from "../../appliance/errors.js";

let dir: string;
let counter = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "egw-config-test-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` to a new file in the temp dir (optionally in a subdirectory) and returns its path. */
function write(text: string, name = `config-${counter++}.yaml`, subdir?: string): string {
  const target = subdir ? join(dir, subdir) : dir;
  mkdirSync(target, { recursive: true });
  const path = join(target, name);
  writeFileSync(path, text);
  return path;
}

type Json = Record<string, unknown>;

/** The smallest valid config: only what names this machine's own resources. */
function minimal(): Json {
  return {
    gateway: { name: "gw-1" },
    api: { adminTokenFile: "admin.token" },
    database: { path: "data/egw.db" },
    network: { inside: { interface: "eth1" }, outside: { interface: "eth2" } },
  };
}

/** Sets a value at a dotted path in a fresh copy of the minimal config. */
function withValue(path: string, value: unknown, base: Json = minimal()): Json {
  const copy = structuredClone(base);
  const keys = path.split(".");
  let node: Json = copy;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Json;
  }
  node[keys.at(-1) as string] = value;
  return copy;
}

function configError(path: string): AppError {
  try {
    loadConfig(path);
  } catch (error) {
    assert.ok(error instanceof AppError, `expected AppError, got ${String(error)}`);
    assert.equal(error.code, "config-invalid");
    assert.equal(error.status, 500);
    return error;
  }
  assert.fail(`loadConfig(${path}) accepted the file`);
}

function assertFieldReported(error: AppError, field: string, reason?: RegExp): void {
  const fields = error.fields.map((f) => f.field);
  const problem = error.fields.find((f) => f.field === field);
  assert.ok(problem, `field ${field} not reported; got ${JSON.stringify(fields)}`);
  if (reason) assert.match(problem.reason, reason);
  assert.ok(error.message.includes(`  - ${field}: `), `detail lists the field: ${error.message}`);
}

describe("loadConfig: a minimal file", () => {
  it("gets every default", () => {
    const path = write(toYaml(minimal()));
    const config = loadConfig(path);
    assert.equal(config.gateway.name, "gw-1");
    assert.deepEqual(config.api.listen, ["127.0.0.1:8080"]);
    assert.equal(config.api.tls, undefined);
    assert.equal(config.api.bodyLimitBytes, 4 * 1024 * 1024);
    assert.equal(config.api.waitTimeoutMs, 10_000);
    assert.deepEqual(config.network.reservedAddresses, []);
    assert.deepEqual(config.dataplane, {
      nftTable: "egress_gateway",
      unmappedTraffic: "drop",
      manageEgressAddresses: true,
      manageSysctls: true,
      routeProtocol: 211,
      driftCheckIntervalMs: 30_000,
      elementChanges: "netlink",
      retryInitialMs: 500,
      retryMaxMs: 30_000,
      sourceBinding: "next-hop",
      failClosed: { mark: 0x10000000, rulePriority: 900 },
    });
    assert.deepEqual(config.log, { level: "info" });
    assert.deepEqual(config.api.adminTokens, []);
    assert.deepEqual(config.api.authFailures, { max: 20, windowMs: 60_000 });
    assert.deepEqual(config.api.rateLimit, { requestsPerSecond: 50, burst: 200 });
    assert.deepEqual(config.limits, { clusterDefaults: { mappings: 10_000, routes: 10_000, destinations: 100_000 } });
    assert.deepEqual(config.audit, { retentionDays: 400, maxRecords: 1_000_000 });
  });

  it("resolves relative paths against the file's directory, not the working directory", () => {
    const config = loadConfig(write(toYaml(withValue("api.tls", { cert: "tls/cert.pem", key: "../keys/key.pem" })), "egw.yaml", "etc/egw"));
    const base = join(dir, "etc/egw");
    assert.equal(config.api.adminTokenFile, join(base, "admin.token"));
    assert.equal(config.database.path, join(base, "data/egw.db"));
    assert.deepEqual(config.api.tls, { cert: join(base, "tls/cert.pem"), key: join(dir, "etc/keys/key.pem"), requireClientCert: false });
  });

  it("resolves named admin token files against the file's directory too", () => {
    const raw = withValue("api.adminTokens", [{ name: "alice", file: "tokens/alice" }, { name: "ci-bot", file: "/etc/egw/ci" }]);
    const config = loadConfig(write(toYaml(raw), "egw.yaml", "etc/named"));
    assert.deepEqual(config.api.adminTokens, [{ name: "alice", file: join(dir, "etc/named/tokens/alice") }, { name: "ci-bot", file: "/etc/egw/ci" }]);
  });

  it("accepts named admin tokens without the single adminTokenFile", () => {
    const raw = withValue("api", { adminTokens: [{ name: "alice", file: "/etc/egw/alice" }] });
    const config = loadConfig(write(toYaml(raw)));
    assert.equal(config.api.adminTokenFile, undefined);
    assert.equal(config.api.adminTokens.length, 1);
  });

  it("keeps absolute paths as they are", () => {
    const config = loadConfig(write(toYaml(withValue("database.path", "/var/lib/egw/egw.db", withValue("api.adminTokenFile", "/etc/egw/admin.token")))));
    assert.equal(config.database.path, "/var/lib/egw/egw.db");
    assert.equal(config.api.adminTokenFile, "/etc/egw/admin.token");
  });

  it("accepts JSON (a YAML subset) as well", () => {
    const config = loadConfig(write(JSON.stringify(withValue("dataplane.unmappedTraffic", "masquerade")), "egw.json"));
    assert.equal(config.dataplane.unmappedTraffic, "masquerade");
    assert.equal(config.dataplane.nftTable, "egress_gateway");
  });

  it("keeps explicit values over defaults", () => {
    let raw = withValue("api.listen", ["[::1]:9443", "unix:/run/egw/api.sock", "0.0.0.0:8080", "localhost:80"]);
    raw = withValue("dataplane", { nftTable: "egw_test", routeProtocol: 5, unmappedTraffic: "masquerade", manageSysctls: false }, raw);
    raw = withValue("log.level", "debug", raw);
    raw = withValue("api.allowPlainHttp", true, raw);
    const config = loadConfig(write(toYaml(raw)));
    assert.deepEqual(config.api.listen, ["[::1]:9443", "unix:/run/egw/api.sock", "0.0.0.0:8080", "localhost:80"]);
    assert.equal(config.dataplane.nftTable, "egw_test");
    assert.equal(config.dataplane.routeProtocol, 5);
    assert.equal(config.dataplane.unmappedTraffic, "masquerade");
    assert.equal(config.dataplane.manageSysctls, false);
    assert.equal(config.dataplane.manageEgressAddresses, true, "unset siblings still get defaults");
    assert.equal(config.log.level, "debug");
  });
});

describe("loadConfig: unknown fields anywhere are errors", () => {
  const cases: [path: string, value: unknown][] = [
    ["colour", "blue"],
    ["gateway.nmae", "x"],
    ["api.listens", ["127.0.0.1:1"]],
    ["api.tls.chain", "x"],
    ["database.wal", true],
    ["network.inside.address", "172.31.0.1"],
    ["network.outside.vip", "203.0.113.1"],
    ["dataplane.nftTabel", "egw"],
    ["log.format", "json"],
  ];
  for (const [path, value] of cases) {
    it(path, () => {
      const raw = path.startsWith("api.tls.") ? withValue("api.tls", { cert: "c.pem", key: "k.pem", chain: value }) : withValue(path, value);
      const error = configError(write(toYaml(raw)));
      assertFieldReported(error, path, /unknown field/);
      assert.equal(error.fields.length, 1, `only the unknown field is reported: ${JSON.stringify(error.fields)}`);
    });
  }
});

describe("loadConfig: bad values are reported with their field path", () => {
  const cases: [label: string, path: string, value: unknown, reportedAt?: string][] = [
    ["gateway name with uppercase and underscore", "gateway.name", "GW_1"],
    ["gateway name starting with '-'", "gateway.name", "-gw"],
    ["gateway name ending with '-'", "gateway.name", "gw-"],
    ["gateway name of 64 characters", "gateway.name", "a".repeat(64)],
    ["empty gateway name", "gateway.name", ""],
    ["gateway name with a dot", "gateway.name", "gw.example"],
    ["interface name of 16 characters", "network.inside.interface", "abcdefghijklmnop"],
    ["empty interface name", "network.outside.interface", ""],
    ["interface name with a slash", "network.outside.interface", "eth/0"],
    ["interface name with a space", "network.inside.interface", "eth 0"],
    ["listen without a port", "api.listen", ["0.0.0.0"], "api.listen.0"],
    ["listen IPv6 without brackets", "api.listen", ["127.0.0.1:8080", "::1:8080"], "api.listen.1"],
    ["listen on a relative unix socket", "api.listen", ["unix:egw.sock"], "api.listen.0"],
    ["listen on a hostname", "api.listen", ["example.com:80"], "api.listen.0"],
    ["listen port too long", "api.listen", ["127.0.0.1:123456"], "api.listen.0"],
    ["empty listen list", "api.listen", []],
    ["unmappedTraffic reject", "dataplane.unmappedTraffic", "reject"],
    ["routeProtocol 255", "dataplane.routeProtocol", 255],
    ["routeProtocol 4 (kernel's own)", "dataplane.routeProtocol", 4],
    ["routeProtocol not an integer", "dataplane.routeProtocol", 211.5],
    ["routeProtocol as a string", "dataplane.routeProtocol", "211"],
    ["nftTable starting with a digit", "dataplane.nftTable", "1table"],
    ["nftTable with a dash", "dataplane.nftTable", "egress-gateway"],
    ["bodyLimitBytes below 1024", "api.bodyLimitBytes", 1023],
    ["waitTimeoutMs over 120000", "api.waitTimeoutMs", 120_001],
    ["driftCheckIntervalMs below 1000", "dataplane.driftCheckIntervalMs", 999],
    ["manageSysctls as a string", "dataplane.manageSysctls", "yes"],
    ["sourceBinding source-address", "dataplane.sourceBinding", "source-address"],
    ["failClosed mark of two bits", "dataplane.failClosed.mark", 0x30000000, "dataplane.failClosed.mark"],
    ["failClosed mark 0", "dataplane.failClosed.mark", 0],
    ["failClosed mark over 32 bits", "dataplane.failClosed.mark", 2 ** 32],
    ["failClosed mark as a hex string", "dataplane.failClosed.mark", "0x10000000"],
    ["failClosed rulePriority 0 (before local)", "dataplane.failClosed.rulePriority", 0],
    ["failClosed rulePriority 32766 (main)", "dataplane.failClosed.rulePriority", 32766],
    ["failClosed unknown field", "dataplane.failClosed.table", 5],
    ["log level verbose", "log.level", "verbose"],
    ["empty adminTokenFile", "api.adminTokenFile", ""],
    ["empty database path", "database.path", ""],
    ["reservedAddresses not a list", "network.reservedAddresses", "192.0.2.1"],
    ["an admin token named admin (reserved for adminTokenFile)", "api.adminTokens", [{ name: "admin", file: "a" }], "api.adminTokens.0.name"],
    ["an admin token name that is not a DNS label", "api.adminTokens", [{ name: "Alice", file: "a" }], "api.adminTokens.0.name"],
    ["two admin tokens with one name", "api.adminTokens", [{ name: "alice", file: "a" }, { name: "alice", file: "b" }]],
    ["an admin token without a file", "api.adminTokens", [{ name: "alice" }], "api.adminTokens.0.file"],
    ["authFailures.max of 0", "api.authFailures.max", 0],
    ["authFailures.windowMs below a second", "api.authFailures.windowMs", 999],
    ["rateLimit.requestsPerSecond of 0", "api.rateLimit.requestsPerSecond", 0],
    ["rateLimit.burst of 0", "api.rateLimit.burst", 0],
    ["a cluster quota default of 0", "limits.clusterDefaults.mappings", 0],
    ["a cluster quota default over 1,000,000", "limits.clusterDefaults.destinations", 1_000_001],
    ["a fractional cluster quota default", "limits.clusterDefaults.routes", 1.5],
    ["audit.retentionDays of 0", "audit.retentionDays", 0],
    ["audit.maxRecords below 1000", "audit.maxRecords", 999],
    ["an unknown limits field", "limits.clusterDefaults.tokens", 5],
  ];
  for (const [label, path, value, reportedAt] of cases) {
    it(label, () => assertFieldReported(configError(write(toYaml(withValue(path, value)))), reportedAt ?? path));
  }

  it("a listen port over 65535 is refused at load time, not when the daemon binds", () => {
    assertFieldReported(configError(write(toYaml(withValue("api.listen", ["127.0.0.1:65536"])))), "api.listen.0");
  });

  it("a listen host that is not an IPv4 address is refused at load time, not when the daemon binds", () => {
    assertFieldReported(configError(write(toYaml(withValue("api.listen", ["300.0.0.1:8080"])))), "api.listen.0");
  });

  it("boundary values just inside the limits are accepted", () => {
    let raw = withValue("gateway.name", "a".repeat(63));
    raw = withValue("network.inside.interface", "abcdefghijklmno", raw);
    raw = withValue("network.outside.interface", "e", raw);
    raw = withValue("dataplane.routeProtocol", 254, raw);
    raw = withValue("api.bodyLimitBytes", 1024, raw);
    raw = withValue("api.waitTimeoutMs", 120_000, raw);
    raw = withValue("dataplane.failClosed", { mark: 0x80000000, rulePriority: 32765 }, raw);
    raw = withValue("dataplane.sourceBinding", "off", raw);
    const config = loadConfig(write(toYaml(raw)));
    assert.deepEqual(config.dataplane.failClosed, { mark: 0x80000000, rulePriority: 32765 });
    assert.equal(config.dataplane.sourceBinding, "off");
    assert.equal(config.gateway.name.length, 63);
    assert.equal(config.network.inside.interface, "abcdefghijklmno");
    assert.equal(config.dataplane.routeProtocol, 254);
  });

  it("several problems are all reported at once", () => {
    let raw = withValue("gateway.name", "GW");
    raw = withValue("dataplane.routeProtocol", 255, raw);
    raw = withValue("extra", 1, raw);
    const error = configError(write(toYaml(raw)));
    assert.deepEqual(error.fields.map((f) => f.field).sort(), ["dataplane.routeProtocol", "extra", "gateway.name"]);
  });

  it("neither adminTokenFile nor adminTokens: reported at api.adminTokenFile", () => {
    const error = configError(write(toYaml(withValue("api", { adminTokens: [] }))));
    assertFieldReported(error, "api.adminTokenFile", /adminTokens/);
  });

  const missing = ["gateway", "gateway.name", "api", "api.adminTokenFile", "database.path", "network.inside", "network.outside.interface"];
  for (const path of missing) {
    it(`missing required ${path}`, () => {
      const raw = minimal();
      const keys = path.split(".");
      let node = raw;
      for (const key of keys.slice(0, -1)) node = node[key] as Json;
      delete node[keys.at(-1) as string];
      assertFieldReported(configError(write(toYaml(raw))), path);
    });
  }
});

describe("loadConfig: unreadable files", () => {
  it("invalid YAML is config-invalid and says so", () => {
    const path = write("gateway: [\n  name: gw\n");
    const error = configError(path);
    assert.match(error.message, /is not valid YAML\/JSON/);
    assert.ok(error.message.includes(path));
    assert.ok(error.cause instanceof Error, "the parser's error is kept as the cause");
  });

  it("a duplicate key is invalid YAML, not a silent override", () => {
    const error = configError(write(`${toYaml(minimal())}gateway: {name: other}\n`));
    assert.match(error.message, /not valid YAML/);
  });

  it("an empty file reports the missing sections", () => {
    const error = configError(write(""));
    for (const field of ["gateway", "api", "database", "network"]) assertFieldReported(error, field);
  });

  it("a top-level list is refused", () => {
    const error = configError(write("- a\n- b\n"));
    assert.ok(error.fields.length >= 1);
    assert.match(error.message, /is not valid/);
  });

  it("a missing file is config-invalid naming the path", () => {
    const path = join(dir, "does-not-exist.yaml");
    const error = configError(path);
    assert.match(error.message, /cannot read config file/);
    assert.ok(error.message.includes(path));
    assert.equal((error.cause as NodeJS.ErrnoException).code, "ENOENT");
  });

  it("a directory is config-invalid", () => {
    const error = configError(dir);
    assert.match(error.message, /cannot read config file/);
  });
});

describe("configSchema", () => {
  it("is the same schema loadConfig applies (defaults without paths resolved)", () => {
    const parsed = configSchema.parse(minimal());
    assert.equal(parsed.database.path, "data/egw.db");
    assert.equal(parsed.dataplane.nftTable, "egress_gateway");
  });
});

describe("readAdminToken", () => {
  /** 32 random hex digits: exactly 128 bits, the least a token may hold. */
  const token32 = "9f3a7c1e5b2d8046af19c3e7d5b20e84";

  function tokenFile(text: string, mode: number): string {
    const path = write(text, `token-${counter++}`);
    chmodSync(path, mode);
    return path;
  }

  function tokenError(path: string): AppError {
    try {
      readAdminToken(path);
    } catch (error) {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, "config-invalid");
      return error;
    }
    assert.fail("readAdminToken accepted the file");
  }

  it("a 32-character token in a 0600 file: no warning", () => {
    assert.deepEqual(readAdminToken(tokenFile(token32, 0o600)), { token: token32, warnings: [] });
  });

  it("surrounding whitespace and the trailing newline are trimmed", () => {
    assert.equal(readAdminToken(tokenFile(`  ${token32}\n\n`, 0o600)).token, token32);
    assert.equal(readAdminToken(tokenFile(`\t${token32}\r\n`, 0o600)).token, token32);
  });

  const short: [string, string][] = [
    ["31 characters", token32.slice(1)],
    ["empty", ""],
    ["only whitespace", " ".repeat(40)],
    ["31 characters padded with whitespace to 40", `    ${token32.slice(1)}     `],
  ];
  for (const [label, text] of short) {
    it(`refuses a token that is too short: ${label}`, () => {
      const error = tokenError(tokenFile(text, 0o600));
      assert.deepEqual(error.fields, [{ field: "api.adminTokenFile", reason: "admin token shorter than 32 characters" }]);
      assert.match(error.message, /at least 32 characters/);
      assert.ok(!error.message.includes(text.trim()) || text.trim() === "", "the secret is not echoed in the error");
    });
  }

  for (const mode of [0o644, 0o640, 0o604, 0o660]) {
    it(`a ${mode.toString(8).padStart(4, "0")} file yields a warning`, () => {
      const path = tokenFile(token32, mode);
      const { token, warnings } = readAdminToken(path);
      assert.equal(token, token32);
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]?.includes(path));
      assert.match(warnings[0] ?? "", /chmod 600/);
    });
  }

  it("a 0400 file yields no warning", () => {
    assert.deepEqual(readAdminToken(tokenFile(token32, 0o400)).warnings, []);
  });

  it("a missing file is config-invalid", () => {
    const error = tokenError(join(dir, "no-such-token"));
    assert.match(error.message, /cannot read admin token file/);
  });

  const weak: [string, string, RegExp][] = [
    ["one key held down", "a".repeat(40), /only 1 distinct characters/],
    ["two keys alternating", "ab".repeat(20), /only 2 distinct characters/],
    ["a repeated word", "0123456789abcdef0123456789abcdef", /repeats a run of 12/],
    ["a word with a long run inside", `Zq7vT2mR9xK4${"x".repeat(14)}pL8wN3bH6cJ1`, /repeats a run of 12/],
    ["32 decimal digits (106 bits)", "73948201657329104856372910485763", /about 106 bits, fewer than 128/],
  ];
  for (const [label, text, reason] of weak) {
    it(`refuses a guessable token: ${label}`, () => {
      const error = tokenError(tokenFile(text, 0o600));
      assert.match(`${error.message} ${error.fields.map((f) => f.reason).join(" ")}`, reason);
      assert.ok(!error.message.includes(text), "the secret is not echoed in the error");
    });
  }

  const strong: [string, string][] = [
    ["openssl rand -hex 16", token32],
    ["openssl rand -hex 32", "5c0e2b9f8a1d4e7c3b6a9f2e5d8c1b4a7f0e3d6c9b2a5f8e1d4c7b0a3f6e9d2c"],
    ["head -c 32 /dev/urandom | base64", "q3ZtWk8vR1xN5bLp0cYs7HdJ2gFm9aTe4uKo6iQw3rE="],
    ["a prefixed hex secret (the lab's)", "admin-4f1c9e7a2b5d8f3e6a0c9b2d5e8f1a4c7b0d3e6f9a2c5b8e"],
  ];
  for (const [label, text] of strong) {
    it(`accepts a generated token: ${label}`, () => {
      assert.equal(tokenWeakness(text), undefined);
      assert.equal(readAdminToken(tokenFile(text, 0o600)).token, text);
    });
  }

  it("names the field of the token it refuses (the metrics token's own field too)", () => {
    const path = tokenFile("ab".repeat(20), 0o600);
    try {
      readAdminToken(path, "metrics token", "metrics.tokenFile");
      assert.fail("accepted");
    } catch (error) {
      assert.ok(error instanceof AppError);
      assert.equal(error.fields[0]?.field, "metrics.tokenFile");
      assert.match(error.message, /metrics token .* is too easy to guess/);
    }
  });
});

describe("readAdminTokens", () => {
  function tokenFile(text: string, mode = 0o600): string {
    const path = write(`${text}\n`, `admin-token-${counter++}`);
    chmodSync(path, mode);
    return path;
  }
  const alice = "Zq7vT2mR9xK4pL8wN3bH6cJ1dF5gS0aYe2uWo1Ip";
  const bob = "pM4wS8qX1zC6vN9bR3tY7kD2fG5hJ0aLe8uWo1Iq";
  const legacy = "q3ZtWk8vR1xN5bLp0cYs7HdJ2gFm9aTe4uKo6iQw3rE=";

  const api = (fields: Partial<ReturnType<typeof configSchema.parse>["api"]>) =>
    ({ ...configSchema.parse(withValue("api", { adminTokenFile: "x" })).api, adminTokenFile: undefined, ...fields });

  it("names the single adminTokenFile's token admin and each named token by its name", () => {
    const result = readAdminTokens(api({
      adminTokenFile: tokenFile(legacy),
      adminTokens: [{ name: "alice", file: tokenFile(alice) }, { name: "bob", file: tokenFile(bob) }],
    }));
    assert.deepEqual(result.tokens, [{ name: "admin", token: legacy }, { name: "alice", token: alice }, { name: "bob", token: bob }]);
    assert.deepEqual(result.warnings, []);
  });

  it("returns a warning for every loosely protected file, for the caller to log", () => {
    const loose = tokenFile(bob, 0o644);
    const result = readAdminTokens(api({ adminTokens: [{ name: "alice", file: tokenFile(alice, 0o640) }, { name: "bob", file: loose }] }));
    assert.equal(result.warnings.length, 2);
    assert.ok(result.warnings[1]?.includes(loose));
    assert.match(result.warnings[0] ?? "", /admin token alice file .* chmod 600/);
  });

  it("refuses one secret under two names, naming the second entry's field", () => {
    try {
      readAdminTokens(api({ adminTokenFile: tokenFile(alice), adminTokens: [{ name: "alice", file: tokenFile(alice) }] }));
      assert.fail("accepted");
    } catch (error) {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, "config-invalid");
      assert.deepEqual(error.fields.map((f) => f.field), ["api.adminTokens.0.file"]);
      assert.ok(!error.message.includes(alice), "the secret is not echoed");
    }
  });

  it("refuses a guessable named token at its own field", () => {
    try {
      readAdminTokens(api({ adminTokens: [{ name: "alice", file: tokenFile(alice) }, { name: "bob", file: tokenFile("ab".repeat(20)) }] }));
      assert.fail("accepted");
    } catch (error) {
      assert.ok(error instanceof AppError);
      assert.deepEqual(error.fields.map((f) => f.field), ["api.adminTokens.1.file"]);
    }
  });
});

describe("loadConfig: no plain HTTP on the network", () => {
  it("refuses a non-loopback TCP listener without api.tls, naming the listener", () => {
    for (const listen of ["0.0.0.0:8080", "172.31.0.1:8080", "[::]:8080", "[2001:db8::1]:8080"]) {
      assert.throws(() => loadConfig(write(toYaml(withValue("api.listen", ["unix:/run/egw/api.sock", listen])))), (error: AppError) => {
        assert.equal(error.code, "config-invalid");
        assert.deepEqual(error.fields.map((f) => f.field), ["api.listen.1"]);
        assert.match(error.fields[0]?.reason ?? "", /api\.tls/);
        return true;
      }, listen);
    }
  });

  it("accepts loopback and unix listeners, a TLS listener, and plain HTTP only when allowPlainHttp says so", () => {
    assert.doesNotThrow(() => loadConfig(write(toYaml(withValue("api.listen", ["127.0.0.1:8080", "[::1]:8080", "localhost:8080", "unix:/run/egw/api.sock"])))));
    assert.doesNotThrow(() => loadConfig(write(toYaml(withValue("api.tls", { cert: "c.pem", key: "k.pem" }, withValue("api.listen", ["0.0.0.0:8443"]))))));
    assert.doesNotThrow(() => loadConfig(write(toYaml(withValue("api.allowPlainHttp", true, withValue("api.listen", ["0.0.0.0:8080"]))))));
  });

  it("holds the metrics listeners to the same rule: loopback, or api.tls, or the lab's opt-out", () => {
    assert.throws(() => loadConfig(write(toYaml(withValue("metrics.listen", ["10.0.0.5:9469"])))), (error: AppError) =>
      error.fields.some((f) => f.field === "metrics.listen.0" && /api\.tls/.test(f.reason)));
    assert.doesNotThrow(() => loadConfig(write(toYaml(withValue("metrics.listen", ["127.0.0.1:9469"])))));
    assert.doesNotThrow(() => loadConfig(write(toYaml(withValue("api.tls", { cert: "c.pem", key: "k.pem" }, withValue("metrics.listen", ["10.0.0.5:9469"]))))));
  });

  it("refuses requireClientCert without a clientCa to verify against", () => {
    assert.throws(() => loadConfig(write(toYaml(withValue("api.tls", { cert: "c.pem", key: "k.pem", requireClientCert: true })))), /requireClientCert needs clientCa/);
  });
});
