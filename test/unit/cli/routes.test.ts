import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { planRoutes } from "../../../appliance/cli/commands/routes.js";
import { main } from "../../../appliance/cli/main.js";
import { captureIo, fakeApi, type FakeApi } from "./fake-api.js";

const ROUTES = [{ prefix: "10.244.1.0/24", via: "172.31.0.11" }, { prefix: "10.244.2.0/24", via: "172.31.0.12" }];

describe("egw routes against a fake API", () => {
  let api: FakeApi;
  before(async () => {
    api = await fakeApi({
      "GET /v1/clusters/prod-eu1/routes": () => ({ status: 200, body: { routes: ROUTES } }),
      "PUT /v1/clusters/prod-eu1/routes?wait=true": (r) => ({ status: 200, body: { revision: 21, routes: (r.body as { routes: unknown[] }).routes } }),
      "POST /v1/clusters/prod-eu1/routes": (r) => ({ status: 201, body: r.body }),
      "DELETE /v1/clusters/prod-eu1/routes/10.244.2.0%2F24?wait=true": () => ({ status: 204 }),
      "POST /v1/clusters/prod-eu1/routes?wait=true": () => ({
        status: 409, body: { type: "https://egw.dev/problems/overlap", title: "Overlap", status: 409, code: "overlap", detail: "10.244.1.0/24 overlaps route 10.244.1.0/24 of cluster prod-eu1" },
      }),
    });
  });
  after(() => api.close());

  const run = async (...args: string[]) => {
    const io = captureIo();
    const code = await main([...args, ...api.flags], io);
    return { code, out: io.out(), err: io.err() };
  };
  const last = () => api.requests.at(-1);

  it("list prints a table; --json the API's document", async () => {
    const { code, out } = await run("routes", "list", "prod-eu1");
    assert.equal(code, 0);
    assert.equal(out, "PREFIX         VIA\n10.244.1.0/24  172.31.0.11\n10.244.2.0/24  172.31.0.12\n");
    const json = await run("routes", "list", "prod-eu1", "--json");
    assert.deepEqual(JSON.parse(json.out), { routes: ROUTES });
  });

  it("apply prints the plan, sends nothing on --dry-run, else the whole set", async () => {
    const file = join(api.dir, "routes.yaml");
    writeFileSync(file, "routes:\n  - {prefix: 10.244.1.0/24, via: 172.31.0.21}\n  - {prefix: 10.244.3.0/24, via: 172.31.0.13}\n");
    const dry = await run("routes", "apply", "prod-eu1", "-f", file, "--dry-run");
    assert.equal(dry.code, 0, dry.err);
    assert.equal(dry.out, [
      "+ 10.244.3.0/24  via 172.31.0.13",
      "~ 10.244.1.0/24  via 172.31.0.21  (was via 172.31.0.11)",
      "- 10.244.2.0/24  via 172.31.0.12",
      "1 to add, 1 to change, 1 to remove, 0 unchanged",
      "",
    ].join("\n"));
    assert.equal(last()?.method, "GET", "a dry run sends nothing");
    const applied = await run("routes", "apply", "prod-eu1", "-f", file, "--wait");
    assert.equal(applied.code, 0, applied.err);
    assert.equal(last()?.method, "PUT");
    assert.deepEqual(last()?.body, { routes: [{ prefix: "10.244.1.0/24", via: "172.31.0.21" }, { prefix: "10.244.3.0/24", via: "172.31.0.13" }] });
    assert.match(applied.out, /applied: cluster prod-eu1 has 2 routes at revision 21\n$/);
  });

  it("add sends one route; delete sends the prefix URL-encoded", async () => {
    const added = await run("routes", "add", "prod-eu1", "10.244.4.0/24", "--via", "172.31.0.14");
    assert.equal(added.code, 0, added.err);
    assert.deepEqual(last()?.body, { prefix: "10.244.4.0/24", via: "172.31.0.14" });
    assert.equal(added.out, "added route 10.244.4.0/24 via 172.31.0.14 to cluster prod-eu1\n");
    const deleted = await run("routes", "delete", "prod-eu1", "10.244.2.0/24", "--wait");
    assert.equal(deleted.code, 0, deleted.err);
    assert.equal(last()?.url, "/v1/clusters/prod-eu1/routes/10.244.2.0%2F24?wait=true");
    assert.equal(deleted.out, "deleted route 10.244.2.0/24 of cluster prod-eu1\n");
  });

  it("a refusal is reported with exit status 2; usage mistakes too", async () => {
    const refused = await run("routes", "add", "prod-eu1", "10.244.1.0/24", "--via", "172.31.0.11", "--wait");
    assert.equal(refused.code, 2);
    assert.equal(refused.err, "egw: POST /v1/clusters/prod-eu1/routes?wait=true: 409 overlap: 10.244.1.0/24 overlaps route 10.244.1.0/24 of cluster prod-eu1\n");
    for (const [args, message] of [
      [["routes", "add", "prod-eu1", "10.244.5.0/24"], /^egw: add needs --via ADDRESS\n/],
      [["routes", "apply", "prod-eu1"], /^egw: apply needs -f FILE\n/],
      [["routes", "delete", "prod-eu1"], /^egw: missing PREFIX\n/],
      [["routes", "move"], /^egw: unknown subcommand "move"\n/],
    ] as const) {
      const { code, err } = await run(...args);
      assert.equal(code, 2, args.join(" "));
      assert.match(err, message);
    }
  });
});

describe("planRoutes", () => {
  it("keys routes by prefix: a new next hop is a change", () => {
    const plan = planRoutes(ROUTES, [{ prefix: "10.244.1.0/24", via: "172.31.0.11" }, { prefix: "10.244.2.0/24", via: "172.31.0.99" }]);
    assert.deepEqual(plan, { added: [], changed: [{ before: ROUTES[1], after: { prefix: "10.244.2.0/24", via: "172.31.0.99" } }], removed: [], unchanged: 1 });
  });
});
