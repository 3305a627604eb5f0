import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";

const EGW = join(PACKAGE_ROOT, "dist", "bin", "egw.js");

function get(url: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** `egw ui`: the status page proxy as an operator starts it, in front of a stand-in daemon on a unix socket. */
describe("egw ui", () => {
  const dir = mkdtempSync(join(tmpdir(), "egw-ui-"));
  // A test that times out never reaches its own cleanup: whatever it started is stopped here.
  const children = new Set<ChildProcess>();
  after(() => {
    for (const child of children) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the page's reads from the socket on a loopback port, refuses writes, and stops on SIGTERM", { timeout: 20_000 }, async () => {
    const socket = join(dir, "api.sock");
    const daemon = createServer((req, res) => res.end(`daemon saw ${req.method} ${req.url}`));
    daemon.listen(socket);
    await once(daemon, "listening");
    const child = spawn(process.execPath, [EGW, "ui", "--listen", "127.0.0.1:0", "--socket", socket], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    try {
      // A child that dies before printing its address must fail the test, not leave it waiting for a line.
      const line = await Promise.race([
        once(createInterface({ input: child.stdout }), "line").then(([first]) => String(first)),
        exited.then(() => undefined),
      ]);
      assert.ok(line !== undefined, `egw ui exited before it printed its address: ${stderr}`);
      const url = /http:\/\/(127\.0\.0\.1:\d+)\/ui\//.exec(line);
      assert.ok(url, line);
      assert.deepEqual(await get(`http://${url[1]}/ui/`), { status: 200, body: "daemon saw GET /ui/" });
      assert.equal((await get(`http://${url[1]}/v1/clusters`, "DELETE")).status, 405, "nothing is changed through the page's proxy");
      child.kill("SIGTERM");
      const [code] = await exited;
      assert.equal(code, 0);
    } finally {
      child.kill("SIGKILL");
      daemon.close();
    }
  });

  it("refuses an address that is not loopback", { timeout: 20_000 }, async () => {
    const child = spawn(process.execPath, [EGW, "ui", "--listen", "0.0.0.0:8081", "--socket", join(dir, "none.sock")], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 2);
    assert.match(stderr, /loopback/);
  });
});
