import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { configSchema } from "../../appliance/config/schema.js";
import { Daemon } from "../../appliance/daemon.js";
import { FakeSystem } from "../helpers/fake-system.js";
import { until } from "../helpers/until.js";

/**
 * The whole daemon on the fake machine: whatever it does to the machine goes through the system module, so the
 * fake sees all of it and a test can assert on it.
 */
describe("Daemon on the fake system", () => {
  let dir: string;
  let system: FakeSystem;
  let daemon: Daemon;
  /** What the nft table held when each kernel setting was written. */
  const written: { key: string; value: string; tableExists: boolean }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-daemon-system-"));
    writeFileSync(join(dir, "admin-token"), "Yk3vQ9pZ2mT7xW4rB8nL1cF6sH0dJ5gAe2uRt9Ko\n", { mode: 0o600 });
    const config = configSchema.parse({
      gateway: { name: "gw1" },
      api: { listen: [`unix:${join(dir, "api.sock")}`], adminTokenFile: join(dir, "admin-token") },
      database: { path: join(dir, "egw.db") },
      network: { inside: { interface: "inside" }, outside: { interface: "outside" } },
      // The policy log runs the real ulogd under a supervisor, outside the fake system (like the translation log).
      policy: { log: { enabled: false } },
    });
    system = new FakeSystem();
    const write = system.sysctls.writeSysctl.bind(system.sysctls);
    system.sysctls.writeSysctl = (key, value) => {
      written.push({ key, value, tableExists: system.tableExists });
      write(key, value);
    };
    daemon = new Daemon(config, pino({ enabled: false }), { system: system.asSystem() });
    await daemon.start();
  });

  after(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("turns forwarding on through /proc/sys only once its table is in the kernel", async () => {
    await until(() => written.length === 2, "both forwarding settings");
    assert.deepEqual(written, [
      { key: "net/ipv4/ip_forward", value: "1", tableExists: true },
      { key: "net/ipv6/conf/all/forwarding", value: "1", tableExists: true },
    ]);
    assert.equal(system.sysctls.values.get("net/netfilter/nf_conntrack_tcp_be_liberal"), "0", "a single gateway keeps strict window tracking");
  });

  it("as a single gateway creates only its database (private), and watches the kernel through the monitors", () => {
    assert.deepEqual([...system.files.files.entries()].map(([path, file]) => [path, file.mode]), [[join(dir, "egw.db"), 0o600]]);
    assert.deepEqual(system.streams.map((s) => s.spec.command).sort(), ["ip", "nft"]);
    assert.deepEqual([...new Set(system.calls.map((c) => c.command))].sort(), ["ip", "nft"], "nothing else ran");
  });

  it("a scrape of /metrics lists the counters once, however many families read them", async () => {
    const scrape = () => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath: join(dir, "api.sock"), path: "/metrics", headers: { authorization: "Bearer Yk3vQ9pZ2mT7xW4rB8nL1cF6sH0dJ5gAe2uRt9Ko" } }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => { body += chunk; });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
    const before = system.callsOf("nft", "counters").length;
    const answer = await scrape();
    assert.equal(answer.status, 200);
    assert.match(answer.body, /egw_egress_ip_/, "the egress IPs' counters are among what it read");
    assert.equal(system.callsOf("nft", "counters").length - before, 1);
  });
});
