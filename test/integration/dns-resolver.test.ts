import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa, type ResultPromise } from "execa";
import { NameCache, timersClock, type NameResolutionOptions } from "../../appliance/policy/name-cache.js";
import { DnsResolver, type DnsLookup } from "../../appliance/system/dns-resolver.js";
import { until } from "../helpers/until.js";

const DNSMASQ = "/usr/sbin/dnsmasq";
const LOCAL_TTL = 120;
const HOSTS_V1 = "192.0.2.10 api.example.test\n2001:db8::10 api.example.test\n192.0.2.11 v4only.example.test\n";
const HOSTS_V2 = "192.0.2.20 api.example.test\n2001:db8::10 api.example.test\n192.0.2.11 v4only.example.test\n";

/** A port no one listens on now (dnsmasq takes it for UDP and TCP; a clash shows as its exit, and it is retried). */
async function unusedPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/**
 * A real dnsmasq on 127.0.0.1 only, answering from a hosts file of its own (the names under `test.` it does not know
 * are NXDOMAIN; anything else, with no upstream, is REFUSED) and `*.wild.test` from a wildcard. Logs to stderr,
 * which is how the test knows it has (re)read the hosts file.
 */
class Dnsmasq {
  output = "";
  port = 0;
  private child: ResultPromise | undefined;
  private exited = false;

  constructor(readonly hostsFile: string) {}

  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.port = await unusedPort();
      this.output = "";
      this.exited = false;
      const child = execa(DNSMASQ, [
        "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
        "--listen-address=127.0.0.1", `--port=${this.port}`, `--addn-hosts=${this.hostsFile}`, `--local-ttl=${LOCAL_TTL}`,
        "--local=/test/", "--address=/wild.test/192.0.2.9", "--log-facility=-", "--pid-file",
      ], { all: true, buffer: false, reject: false, stdin: "ignore" });
      this.child = child;
      child.all?.on("data", (chunk: Buffer) => void (this.output += chunk.toString()));
      void child.then(() => void (this.exited = true));
      await until(() => this.exited || this.hostsReads() >= 1, "dnsmasq to read its hosts file", 10_000);
      if (!this.exited) return;
      if (attempt >= 5) assert.fail(`dnsmasq would not start:\n${this.output}`);
    }
  }

  /** How often it has said it read the hosts file (once at start, once per SIGHUP). */
  hostsReads(): number {
    return this.output.split(`read ${this.hostsFile} - `).length - 1;
  }

  async reload(): Promise<void> {
    const before = this.hostsReads();
    this.child?.kill("SIGHUP");
    await until(() => this.hostsReads() > before, "dnsmasq to re-read its hosts file after SIGHUP", 10_000);
  }

  async stop(): Promise<void> {
    if (!this.child || this.exited) return;
    this.child.kill("SIGTERM");
    await this.child;
    this.exited = true;
  }

  get running(): boolean {
    return this.child !== undefined && !this.exited;
  }
}

function sortedAddresses(result: DnsLookup): { address: string; ttl: number }[] {
  assert.equal(result.status, "answer", `expected an answer, got ${JSON.stringify(result)}`);
  return [...result.addresses].sort((a, b) => (a.address < b.address ? -1 : 1));
}

describe("DNS resolution against a real dnsmasq", () => {
  let dir: string;
  let hostsFile: string;
  let dnsmasq: Dnsmasq;
  let resolver: DnsResolver;

  before(async () => {
    assert.ok(existsSync(DNSMASQ), `${DNSMASQ} is missing: install dnsmasq-base`);
    dir = mkdtempSync(join(tmpdir(), "egw-dns-"));
    // dnsmasq started as root reads the file again (SIGHUP) as its own unprivileged user.
    chmodSync(dir, 0o755);
    hostsFile = join(dir, "hosts");
    writeFileSync(hostsFile, HOSTS_V1, { mode: 0o644 });
    dnsmasq = new Dnsmasq(hostsFile);
    await dnsmasq.start();
    resolver = new DnsResolver({ servers: [`127.0.0.1:${dnsmasq.port}`], timeoutMs: 500, tries: 1 });
  });

  after(async () => {
    resolver?.cancel();
    await dnsmasq?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("answers A and AAAA together, with the TTL the server gave", async () => {
    assert.deepEqual(sortedAddresses(await resolver.lookup("api.example.test")), [
      { address: "192.0.2.10", ttl: LOCAL_TTL },
      { address: "2001:db8::10", ttl: LOCAL_TTL },
    ]);
  });

  it("takes NODATA for one family as an empty answer for it, and NXDOMAIN as an empty answer", async () => {
    assert.deepEqual(sortedAddresses(await resolver.lookup("v4only.example.test")), [{ address: "192.0.2.11", ttl: LOCAL_TTL }]);
    assert.deepEqual(await resolver.lookup("nope.example.test"), { status: "answer", addresses: [] });
  });

  it("resolves the literal *.zone name to what the zone's wildcard answers", async () => {
    assert.deepEqual(sortedAddresses(await resolver.lookup("*.wild.test")), [{ address: "192.0.2.9", ttl: LOCAL_TTL }]);
  });

  it("reports REFUSED as a failure, not as an empty answer", async () => {
    const result = await resolver.lookup("api.example.org");
    assert.equal(result.status, "failed");
    assert.match(result.error, /EREFUSED/);
  });

  it("sees the new address after the hosts file changes and dnsmasq re-reads it", async () => {
    writeFileSync(hostsFile, HOSTS_V2);
    await dnsmasq.reload();
    assert.deepEqual(sortedAddresses(await resolver.lookup("api.example.test")).map(({ address }) => address), ["192.0.2.20", "2001:db8::10"]);
    writeFileSync(hostsFile, HOSTS_V1);
    await dnsmasq.reload();
    assert.deepEqual(sortedAddresses(await resolver.lookup("api.example.test")).map(({ address }) => address), ["192.0.2.10", "2001:db8::10"]);
  });

  it("turns the server's TTL into each address's expiry, clamped to [min, max]", async () => {
    const cases: [options: NameResolutionOptions, effectiveTtl: number][] = [
      [{ minTtlSeconds: 1, maxTtlSeconds: 3_600 }, LOCAL_TTL],
      [{ minTtlSeconds: 1, maxTtlSeconds: 60 }, 60],
      [{ minTtlSeconds: 300, maxTtlSeconds: 3_600 }, 300],
    ];
    for (const [options, effectiveTtl] of cases) {
      const cache = new NameCache({ lookup: (name) => resolver.lookup(name), clock: timersClock }, options);
      let changes = 0;
      cache.onChange(() => void changes++);
      try {
        const askedNoEarlierThan = Date.now();
        cache.setNames(["API.example.test."]);
        await until(() => cache.status()[0]?.state === "resolved", `the cache to resolve (${JSON.stringify(cache.status())})`);
        const answeredNoLaterThan = Date.now();
        const held = cache.addressesOf("api.example.test");
        assert.deepEqual(held.map(({ address }) => address), ["192.0.2.10", "2001:db8::10"]);
        for (const { expiresAt } of held) {
          assert.ok(expiresAt >= askedNoEarlierThan + effectiveTtl * 1_000, `${expiresAt} expires no sooner than ${effectiveTtl} s after the question`);
          assert.ok(expiresAt <= answeredNoLaterThan + effectiveTtl * 1_000, `${expiresAt} expires no later than ${effectiveTtl} s after the answer`);
        }
        const refreshAt = Date.parse(cache.status()[0]?.nextRefreshAt ?? "");
        assert.ok(refreshAt <= answeredNoLaterThan + (effectiveTtl * 1_000) / 2, "the refresh is due at half the effective TTL");
        assert.ok(changes >= 1, "listeners heard of the new addresses");
      } finally {
        cache.stop();
      }
    }
  });

  it("reports a failure, not an empty answer, once the server is gone; the cache keeps the last good addresses", async () => {
    const cache = new NameCache({ lookup: (name) => resolver.lookup(name), clock: timersClock }, { minTtlSeconds: 2, maxTtlSeconds: 2 });
    try {
      cache.setNames(["api.example.test"]);
      await until(() => cache.status()[0]?.state === "resolved", "the cache to resolve");
      await dnsmasq.stop();
      assert.equal(dnsmasq.running, false);
      const result = await resolver.lookup("api.example.test");
      assert.equal(result.status, "failed", `with dnsmasq stopped: ${JSON.stringify(result)}`);
      assert.match(result.error, /ECONNREFUSED|ETIMEOUT/);
      // The refresh at half the (2 s) TTL fails; the addresses stay until their own expiry.
      await until(() => cache.status()[0]?.state === "failing", "the cache's refresh to fail", 10_000);
      const failing = cache.status()[0];
      assert.match(failing?.lastError ?? "", /ECONNREFUSED|ETIMEOUT/);
      const expiries = cache.addressesOf("api.example.test").map(({ expiresAt }) => expiresAt);
      assert.equal(expiries.length, 2, "still held after the failed refresh");
      assert.ok(expiries.every((expiresAt) => expiresAt > Date.now()));
      await until(() => cache.addressesOf("api.example.test").length === 0, "the addresses to expire", 10_000);
    } finally {
      cache.stop();
    }
  });
});
