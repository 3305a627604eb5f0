import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseBatchFailures } from "../../appliance/kernel/ip-batch.js";
import { RouteManager } from "../../appliance/kernel/routes.js";
import { FakeSystem } from "../helpers/fake-system.js";

describe("RouteManager.converge sends every route change in one ip -batch", () => {
  it("a thousand routes are one process, with our protocol number on each", async () => {
    const system = new FakeSystem();
    const routes = Array.from({ length: 1000 }, (_, i) => ({ prefix: `10.${Math.floor(i / 256)}.${i % 256}.0/24`, via: "172.31.0.11" }));
    assert.equal(await new RouteManager(system, 211, "inside").converge(routes, []), 1000);
    assert.equal(system.calls.length, 1);
    assert.deepEqual(system.calls[0]?.args, ["-force", "-batch", "-"]);
    assert.equal(system.routes.size, 1000);
    assert.ok([...system.routes.values()].every((r) => r.protocol === "211"));
    assert.equal(system.batchLines()[0], "route replace 10.0.0.0/24 via 172.31.0.11 dev inside proto 211");
  });

  it("replaces, deletes and leaves unchanged routes alone; a deletion of a route that is already gone is fine", async () => {
    const system = new FakeSystem();
    const manager = new RouteManager(system, 211, "inside");
    system.routes.set("10.1.0.0/16", { dst: "10.1.0.0/16", gateway: "172.31.0.11", protocol: "211" });
    system.routes.set("10.2.0.0/16", { dst: "10.2.0.0/16", gateway: "172.31.0.11", protocol: "211" });
    const changes = await manager.converge(
      [{ prefix: "10.1.0.0/16", via: "172.31.0.11" }, { prefix: "10.2.0.0/16", via: "172.31.0.12" }],
      [{ prefix: "10.1.0.0/16", via: "172.31.0.11" }, { prefix: "10.2.0.0/16", via: "172.31.0.11" }, { prefix: "10.3.0.0/16", via: "172.31.0.11" }],
    );
    assert.equal(changes, 2);
    assert.deepEqual(system.batchLines(), ["route replace 10.2.0.0/16 via 172.31.0.12 dev inside proto 211", "route del 10.3.0.0/16 via 172.31.0.11 proto 211"]);
    assert.equal(system.routes.get("10.2.0.0/16")?.gateway, "172.31.0.12");
  });

  it("no change, no process", async () => {
    const system = new FakeSystem();
    assert.equal(await new RouteManager(system, 211, "inside").converge([], []), 0);
    assert.equal(system.calls.length, 0);
  });

  it("any other failed line fails the call and names the line", async () => {
    const system = new FakeSystem();
    const manager = new RouteManager(system, 211, "inside");
    const realRun = system.run.bind(system);
    system.run = async (command, args, options) => (args.includes("-batch")
      ? { stdout: "", stderr: "Error: Nexthop has invalid gateway.\nCommand failed -:2\n", exitCode: 1 }
      : realRun(command, args, options));
    await assert.rejects(manager.converge([{ prefix: "10.1.0.0/16", via: "172.31.0.11" }, { prefix: "10.2.0.0/16", via: "10.9.9.9" }], []),
      /"route replace 10\.2\.0\.0\/16 via 10\.9\.9\.9 dev inside proto 211": Error: Nexthop has invalid gateway\./);
  });
});

describe("parseBatchFailures", () => {
  it("pairs each 'Command failed -:N' with the error printed before it", () => {
    const stderr = "RTNETLINK answers: No such process\nCommand failed -:2\nError: Nexthop has invalid gateway.\nCommand failed -:4\n";
    assert.deepEqual(parseBatchFailures(stderr, ["a", "b", "c", "d"]), [
      { line: "b", error: "RTNETLINK answers: No such process" },
      { line: "d", error: "Error: Nexthop has invalid gateway." },
    ]);
  });
});
