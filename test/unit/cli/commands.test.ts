import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { main } from "../../../appliance/cli/main.js";
import { egw } from "../../../bin/dispatch.js";
import { captureIo, fakeApi, type FakeApi } from "./fake-api.js";

const STATUS = {
  gateway: "gw-a", role: "master", version: "0.1.0", revision: 12, appliedRevision: 12, inSync: true,
  lastApply: { revision: 12, ok: true, at: "2026-11-23T14:07:14.033Z", durationMs: 14.2, kind: "incremental" },
  peers: [{ name: "gw-b", role: "unknown", appliedRevision: 11, inSync: false, lastApply: null, replication: "behind" }],
  warnings: [],
};
const EGRESS_IPS = [
  { address: "203.0.113.10", family: 4, description: "erp", cluster: "prod-eu1" },
  { address: "2001:db8::10", family: 6, description: "", cluster: null },
];
const CLUSTER = {
  name: "prod-eu1", description: "Production", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"],
  excludableDestinations: ["10.0.0.0/8"], quotas: { routes: 50 },
  effectiveQuotas: { mappings: 10_000, routes: 50, destinations: 100_000 }, usage: { mappings: 2, routes: 1, destinations: 3 },
};
const MAPPINGS = [
  { name: "erp", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: { namespace: "erp" } },
  { name: "old", sourceCidr: "10.244.3.0/24", egressIp: "203.0.113.10", destinations: [], excludedDestinations: [], labels: {} },
];
const problem = (status: number, code: string, detail: string, fields?: { field: string; reason: string }[]) =>
  ({ status, body: { type: `https://egw.dev/problems/${code}`, title: code, status, code, detail, ...(fields ? { fields } : {}) } });

describe("egw operator commands against a fake API on a unix socket", () => {
  let api: FakeApi;
  before(async () => {
    api = await fakeApi({
      "GET /v1/status": () => ({ status: 200, body: STATUS }),
      "GET /v1/egress-ips": () => ({ status: 200, body: { egressIps: EGRESS_IPS } }),
      "POST /v1/egress-ips": (r) => ({ status: 201, body: { ...(r.body as object), family: 4, cluster: null } }),
      "POST /v1/egress-ips?wait=true": (r) => ({ status: 201, body: { ...(r.body as object), family: 4, cluster: null } }),
      "DELETE /v1/egress-ips/2001%3Adb8%3A%3A10": () => ({ status: 204 }),
      "DELETE /v1/egress-ips/203.0.113.99": () => problem(409, "in-use", "egress IP 203.0.113.99 is used by mapping erp of cluster prod-eu1"),
      "GET /v1/clusters": () => ({ status: 200, body: { clusters: [CLUSTER] } }),
      "POST /v1/clusters": (r) => ({ status: 201, body: { description: "", ...(r.body as object) } }),
      "GET /v1/clusters/prod-eu1": () => ({ status: 200, body: CLUSTER, headers: { etag: '"prod-eu1-v1"' } }),
      "GET /v1/clusters/prod-eu1/status": () => ({ status: 200, body: { cluster: "prod-eu1", revision: 12, mappings: 2, routes: 1, gateways: [] } }),
      "PUT /v1/clusters/prod-eu1": (r) => ({ status: 200, body: { name: "prod-eu1", ...(r.body as object) } }),
      "DELETE /v1/clusters/prod-eu1?cascade=true": () => ({ status: 204 }),
      "GET /v1/clusters/prod-eu1/mappings": () => ({ status: 200, body: { mappings: MAPPINGS } }),
      "PUT /v1/clusters/prod-eu1/mappings?wait=true": (r) => ({ status: 200, body: { revision: 13, mappings: (r.body as { mappings: unknown[] }).mappings } }),
      "PUT /v1/clusters/prod-eu1/mappings": () => problem(422, "validation-failed", "mappings.0.sourceCidr: \"10.244.1.1/26\" has host bits set; did you mean 10.244.1.0/26?",
        [{ field: "mappings.0.sourceCidr", reason: "has host bits set" }, { field: "mappings.1.egressIp", reason: "not an IP address" }]),
      "POST /v1/clusters/prod-eu1/tokens": () => ({ status: 201, body: { id: "025e2442885f", cluster: "prod-eu1", description: "ci", createdAt: "2026-11-23T14:00:00.000Z", revokedAt: null, token: "egw_secret" } }),
      "DELETE /v1/clusters/prod-eu1/tokens/025e2442885f": () => ({ status: 200, body: { id: "025e2442885f", cluster: "prod-eu1", description: "ci", createdAt: "2026-11-23T14:00:00.000Z", revokedAt: "2026-11-23T15:00:00.000Z" } }),
      "POST /v1/ha/handover": () => ({ status: 200, body: { from: "gw-a", role: "backup" } }),
    });
  });
  after(() => api.close());

  const run = async (...args: string[]) => {
    const io = captureIo();
    const code = await main([...args, ...api.flags], io);
    return { code, out: io.out(), err: io.err() };
  };
  const last = () => api.requests[api.requests.length - 1];

  it("status prints the role, the revisions, the last apply and each peer", async () => {
    const { code, out } = await run("status");
    assert.equal(code, 0);
    assert.match(out, /^gateway +gw-a$/m);
    assert.match(out, /^role +master$/m);
    assert.match(out, /^revision +12 \(in sync\)$/m);
    assert.match(out, /^last apply +ok, revision 12, incremental, 14 ms, at 2026-11-23T14:07:14.033Z$/m);
    assert.match(out, /^PEER +APPLIED +IN SYNC +REPLICATION$/m);
    assert.match(out, /^gw-b +11 +no +behind$/m);
    assert.equal(last()?.headers.authorization, "Bearer admin-token-for-tests-0123456789abcdef");
  });

  it("--json prints the API's document unchanged", async () => {
    const { code, out } = await run("status", "--json");
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out), STATUS);
  });

  it("egress-ips list is a table; add and delete send the right requests", async () => {
    const list = await run("egress-ips", "list");
    assert.equal(list.out, [
      "ADDRESS       FAMILY  CLUSTER   DESCRIPTION",
      "203.0.113.10  IPv4    prod-eu1  erp",
      "2001:db8::10  IPv6    -",
      "",
    ].join("\n"));
    const add = await run("egress-ips", "add", "203.0.113.12", "--description", "billing", "--wait");
    assert.equal(add.code, 0);
    assert.deepEqual(last()?.body, { address: "203.0.113.12", description: "billing" });
    assert.equal(last()?.url, "/v1/egress-ips?wait=true");
    assert.equal(add.out, "added egress IP 203.0.113.12\n");
    const del = await run("egress-ips", "delete", "2001:db8::10");
    assert.equal(del.code, 0);
    assert.equal(last()?.method, "DELETE");
  });

  it("shows a problem document's status, code and detail on stderr, with exit status 2 (trouble: 1 means differences)", async () => {
    const { code, out, err } = await run("egress-ips", "delete", "203.0.113.99");
    assert.equal(code, 2);
    assert.equal(out, "");
    assert.equal(err, "egw: DELETE /v1/egress-ips/203.0.113.99: 409 in-use: egress IP 203.0.113.99 is used by mapping erp of cluster prod-eu1\n");
  });

  it("lists the fields of a validation problem that the detail does not already name", async () => {
    const file = join(api.dir, "bad.json");
    writeFileSync(file, JSON.stringify([{ name: "erp", sourceCidr: "10.244.1.1/26", egressIp: "x" }]));
    const { code, err } = await run("mappings", "apply", "prod-eu1", "-f", file);
    assert.equal(code, 2);
    assert.match(err, /^egw: PUT \/v1\/clusters\/prod-eu1\/mappings: 422 validation-failed: mappings\.0\.sourceCidr: "10\.244\.1\.1\/26" has host bits set; did you mean 10\.244\.1\.0\/26\?$/m);
    assert.match(err, /^ {2}- mappings\.1\.egressIp: not an IP address$/m);
    assert.doesNotMatch(err, /- mappings\.0\.sourceCidr/);
  });

  it("mappings apply prints the plan, then sends the whole set", async () => {
    const file = join(api.dir, "mappings.yaml");
    writeFileSync(file, [
      "mappings:",
      "  - {name: erp, sourceCidr: 10.244.1.0/26, egressIp: 203.0.113.10, labels: {namespace: erp}}",
      "  - {name: billing, sourceCidr: 10.244.1.64/26, egressIp: 203.0.113.11}",
      "",
    ].join("\n"));
    const dry = await run("mappings", "apply", "prod-eu1", "-f", file, "--dry-run");
    assert.equal(dry.code, 0);
    assert.equal(dry.out, [
      "+ billing  10.244.1.64/26 → 203.0.113.11",
      "- old      10.244.3.0/24 → 203.0.113.10",
      "1 to add, 0 to change, 1 to remove, 1 unchanged",
      "",
    ].join("\n"));
    assert.equal(last()?.method, "GET", "a dry run sends nothing");
    const applied = await run("mappings", "apply", "prod-eu1", "-f", file, "--wait");
    assert.equal(applied.code, 0, applied.err);
    assert.equal(last()?.method, "PUT");
    assert.equal((last()?.body as { mappings: unknown[] }).mappings.length, 2);
    assert.match(applied.out, /applied: cluster prod-eu1 has 2 mappings at revision 13\n$/);
  });

  it("clusters create takes repeated and comma-separated lists; update keeps the lists not given", async () => {
    const created = await run("clusters", "create", "prod-eu2", "--source-range", "10.245.0.0/16,fd00:10:245::/48", "--egress-ip", "203.0.113.20", "--egress-ip", "203.0.113.21");
    assert.equal(created.code, 0, created.err);
    assert.deepEqual(last()?.body, { name: "prod-eu2", sourceRanges: ["10.245.0.0/16", "fd00:10:245::/48"], egressIps: ["203.0.113.20", "203.0.113.21"] });
    const updated = await run("clusters", "update", "prod-eu1", "--egress-ip", "203.0.113.10,203.0.113.11");
    assert.equal(updated.code, 0, updated.err);
    assert.deepEqual(last()?.body, {
      description: "Production", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10", "203.0.113.11"],
      excludableDestinations: ["10.0.0.0/8"], quotas: { routes: 50 },
    }, "what is not given is kept, the excludable destinations and quota overrides included");
    assert.equal(last()?.headers["if-match"], '"prod-eu1-v1"', "the write is conditional on the state read, so a concurrent change is refused, not overwritten");
    await run("clusters", "update", "prod-eu1", "--quota", "mappings=500", "--quota", "routes=default", "--excludable-destination", "10.1.0.0/16,192.0.2.0/24");
    assert.deepEqual(last()?.body, {
      description: "Production", sourceRanges: ["10.244.0.0/16"], egressIps: ["203.0.113.10"],
      excludableDestinations: ["10.1.0.0/16", "192.0.2.0/24"], quotas: { mappings: 500 },
    });
    const bad = await run("clusters", "update", "prod-eu1", "--quota", "tokens=5");
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--quota "tokens=5"/);
    await run("clusters", "create", "prod-eu3", "--source-range", "10.246.0.0/16", "--quota", "routes=10", "--excludable-destination", "10.0.0.0/8");
    assert.deepEqual(last()?.body, { name: "prod-eu3", sourceRanges: ["10.246.0.0/16"], egressIps: [], excludableDestinations: ["10.0.0.0/8"], quotas: { routes: 10 } });
    const deleted = await run("clusters", "delete", "prod-eu1", "--cascade");
    assert.equal(deleted.code, 0, deleted.err);
    assert.equal(last()?.url, "/v1/clusters/prod-eu1?cascade=true");
  });

  it("clusters show prints the excludable destinations and each quota with its usage", async () => {
    const { code, out } = await run("clusters", "show", "prod-eu1");
    assert.equal(code, 0);
    assert.match(out, /^excludable +10\.0\.0\.0\/8$/m);
    assert.match(out, /^quotas +mappings 2 of 10000, routes 1 of 50 \(set\), destinations 3 of 100000$/m);
  });

  it("tokens issue shows the secret once; revoke names the token", async () => {
    const issued = await run("tokens", "issue", "prod-eu1", "--description", "ci");
    assert.equal(issued.out, "issued token 025e2442885f for cluster prod-eu1; the secret is shown only now:\negw_secret\n");
    const revoked = await run("tokens", "revoke", "prod-eu1", "025e2442885f");
    assert.equal(revoked.out, "revoked token 025e2442885f of cluster prod-eu1 at 2026-11-23T15:00:00.000Z\n");
  });

  it("handover reports who handed over", async () => {
    const { code, out } = await run("handover");
    assert.equal(code, 0);
    assert.equal(out, "gw-a handed mastership over and is now backup\n");
  });

  it("a missing token makes the API's 401 come with a hint", async () => {
    const unauthorized = await fakeApi({ "GET /v1/status": () => problem(401, "unauthorized", "send the token as 'Authorization: Bearer <token>'") });
    try {
      const io = captureIo();
      const code = await main(["status", "--socket", unauthorized.socket, "--config", join(unauthorized.dir, "none.yaml")], io).catch(() => -1);
      // An explicit --config that cannot be read is an error of its own.
      assert.equal(code, 78);
      assert.match(io.err(), /cannot read config file/);
      const io2 = captureIo();
      assert.equal(await main(["status", "--socket", unauthorized.socket], io2), 2);
      assert.equal(unauthorized.requests[0]?.headers.authorization, undefined);
      assert.match(io2.err(), /401 unauthorized/);
      assert.match(io2.err(), /--token-file FILE or EGW_TOKEN/);
    } finally {
      await unauthorized.close();
    }
  });
});

describe("egw connection settings", () => {
  let api: FakeApi;
  before(async () => {
    api = await fakeApi({ "GET /v1/egress-ips": () => ({ status: 200, body: { egressIps: [] } }) });
  });
  after(() => api.close());

  it("takes the token from EGW_TOKEN and the socket from EGW_SOCKET", async () => {
    const io = captureIo({ EGW_TOKEN: "from-the-environment", EGW_SOCKET: api.socket });
    assert.equal(await main(["egress-ips", "list"], io), 0, io.err());
    assert.equal(io.out(), "(none)\n");
    assert.equal(api.requests.at(-1)?.headers.authorization, "Bearer from-the-environment");
  });

  it("finds the socket and the admin token file in the daemon's config", async () => {
    const config = join(api.dir, "egw.yaml");
    writeFileSync(config, `api:\n  listen: ["127.0.0.1:8080", "unix:${api.socket}"]\n  adminTokenFile: token\n`);
    const io = captureIo();
    assert.equal(await main(["egress-ips", "list", "--config", config], io), 0, io.err());
    assert.equal(api.requests.at(-1)?.headers.authorization, "Bearer admin-token-for-tests-0123456789abcdef");
  });

  it("says clearly when nothing listens at the socket", async () => {
    const io = captureIo();
    assert.equal(await main(["status", "--socket", join(api.dir, "missing.sock"), "--token-file", api.tokenFile], io), 2);
    assert.match(io.err(), /^egw: no API socket at unix:.*missing\.sock \(is egw running\? systemctl status egw; or pass --socket PATH \/ --url URL\)\n$/);
  });

  it("rejects a URL that is not http(s)", async () => {
    const io = captureIo();
    assert.equal(await main(["status", "--url", "ftp://gw/"], io), 78);
    assert.match(io.err(), /--url must be http:\/\/ or https:\/\//);
  });
});

describe("egw argument handling", () => {
  const run = async (...args: string[]) => {
    const io = captureIo();
    const code = await main(args, io);
    return { code, out: io.out(), err: io.err() };
  };

  it("prints the overview for no command or help, exit status 0", async () => {
    for (const args of [[], ["help"], ["--help"]]) {
      const { code, out } = await run(...args);
      assert.equal(code, 0);
      assert.match(out, /^usage: egw COMMAND/);
      assert.match(out, /egress-ips list\|add\|update\|delete/);
    }
  });

  it("an unknown command is a usage error (exit 2) with the overview", async () => {
    const { code, err } = await run("frobnicate");
    assert.equal(code, 2);
    assert.match(err, /^egw: unknown command "frobnicate"\n\nusage: egw COMMAND/);
  });

  it("COMMAND --help prints that command's usage", async () => {
    const { code, out } = await run("mappings", "--help");
    assert.equal(code, 0);
    assert.match(out, /egw mappings apply CLUSTER -f FILE \[--dry-run\] \[--wait\]/);
  });

  it("unknown options, missing arguments, extra arguments and unknown subcommands are usage errors", async () => {
    const cases: [string[], RegExp][] = [
      [["status", "--bogus"], /^egw: Unknown option '--bogus'/],
      [["egress-ips", "add"], /^egw: missing ADDRESS\n/],
      [["egress-ips", "add", "203.0.113.10", "extra"], /^egw: unexpected argument "extra"\n/],
      [["egress-ips", "rename"], /^egw: unknown subcommand "rename"\n/],
      [["egress-ips"], /^egw: missing subcommand\n/],
      [["tokens", "revoke", "prod-eu1"], /^egw: missing ID\n/],
      [["mappings", "apply", "prod-eu1"], /^egw: apply needs -f FILE\n/],
      [["clusters", "update", "prod-eu1"], /^egw: update needs --source-range, --egress-ip, --excludable-destination, --quota or --description\n/],
      [["show"], /^egw: show what\? nft or keepalived\n/],
      [["status", "--description", "x"], /^egw: Unknown option '--description'/],
    ];
    for (const [args, expected] of cases) {
      const { code, out, err } = await run(...args);
      assert.equal(code, 2, `${args.join(" ")}: ${err}`);
      assert.equal(out, "");
      assert.match(err, expected, args.join(" "));
      assert.match(err, /\n\nusage:/, "the command's usage follows");
    }
  });

  it("egw lab (dispatched by the entry point, not the appliance's CLI): help on stdout, a missing lab command is a usage error", async () => {
    const runEgw = async (...args: string[]) => {
      const io = captureIo();
      const code = await egw(args, io);
      return { code, out: io.out(), err: io.err() };
    };
    const help = await runEgw("lab", "--help");
    assert.equal(help.code, 0);
    assert.match(help.out, /egw lab demo \[--json\] \[--keep\]/);
    const missing = await runEgw("lab");
    assert.equal(missing.code, 2);
    assert.match(missing.err, /^egw: missing lab command\n\nusage:/);
  });

  it("keeps the daemon's commands: check-config reports an invalid file with exit status 78", async () => {
    const { code, err } = await run("check-config", "--config", "/nonexistent/egw.yaml");
    assert.equal(code, 78);
    assert.match(err, /^egw: cannot read config file \/nonexistent\/egw\.yaml/);
  });
});

describe("egw shows what came from the API with its control characters escaped", () => {
  const hostile = "\u001b]0;pwned\u0007\u001b[2J\u009b31mred\nforged line\u007f";
  const escaped = "\\x1b]0;pwned\\x07\\x1b[2J\\u009b31mred\\nforged line\\x7f";
  let api: FakeApi;
  before(async () => {
    api = await fakeApi({
      "GET /v1/clusters/evil/mappings": () => ({ status: 200, body: { mappings: [{ ...MAPPINGS[0], labels: { app: hostile } }] } }),
      "GET /v1/egress-ips": () => ({ status: 200, body: { egressIps: [{ ...EGRESS_IPS[0], description: hostile }] } }),
      "GET /v1/status": () => ({ status: 200, body: { ...STATUS, warnings: ["first", hostile] } }),
      "DELETE /v1/egress-ips/203.0.113.10": () => problem(409, "in-use", `used by ${hostile}`, [{ field: "x", reason: hostile }]),
    });
  });
  after(() => api.close());

  const run = async (...args: string[]) => {
    const io = captureIo();
    const code = await main([...args, ...api.flags], io);
    return { code, out: io.out(), err: io.err() };
  };
  const noControls = (text: string) => assert.doesNotMatch(text.replaceAll("\n", ""), /[\u0000-\u001f\u007f-\u009f]/, JSON.stringify(text));

  it("in tables (labels, descriptions)", async () => {
    for (const args of [["mappings", "list", "evil"], ["egress-ips", "list"]]) {
      const { code, out } = await run(...args);
      assert.equal(code, 0);
      noControls(out);
      assert.ok(out.includes(escaped), out);
      assert.equal(out.split("\n").length, 3, "no forged line");
    }
  });

  it("in key/value output (status warnings keep one line each)", async () => {
    const { out } = await run("status");
    noControls(out);
    assert.match(out, /^warnings +first$/m);
    assert.ok(out.includes(`  ${escaped}\n`));
  });

  it("in problem details and field reasons on stderr", async () => {
    const { code, err } = await run("egress-ips", "delete", "203.0.113.10");
    assert.equal(code, 2);
    noControls(err);
    assert.ok(err.includes(`used by ${escaped}`));
  });

  it("in --json output, which stays valid JSON with the same content", async () => {
    const { out } = await run("mappings", "list", "evil", "--json");
    assert.doesNotMatch(out, /[\u007f-\u009f\u001b]/);
    assert.equal(JSON.parse(out).mappings[0].labels.app, hostile);
  });
});
