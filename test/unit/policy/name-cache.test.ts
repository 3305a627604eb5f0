import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NameCache, RETRY_MAX_MS, type NameResolutionOptions } from "../../../appliance/policy/name-cache.js";
import type { DnsLookup } from "../../../appliance/system/dns-resolver.js";
import { FakeTimers, settle } from "../../helpers/fake-timers.js";

const S = 1_000;

/**
 * A DNS server the test scripts: each name answers what `answers` holds for it now (unknown names: NXDOMAIN).
 * It records every question with the time it was asked; `hold` keeps the next answers back until released.
 */
class ScriptedDns {
  readonly answers = new Map<string, DnsLookup>();
  readonly asked: { name: string; at: number }[] = [];
  private held: (() => void)[] | null = null;

  constructor(private readonly clock: FakeTimers) {}

  answer(name: string, ...records: [address: string, ttl: number][]): void {
    this.answers.set(name, { status: "answer", addresses: records.map(([address, ttl]) => ({ address, ttl })) });
  }

  fail(name: string, error: string): void {
    this.answers.set(name, { status: "failed", error });
  }

  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const resume of held) resume();
  }

  lookup = async (name: string): Promise<DnsLookup> => {
    this.asked.push({ name, at: this.clock.now() });
    if (this.held) await new Promise<void>((resume) => this.held?.push(resume));
    return this.answers.get(name) ?? { status: "answer", addresses: [] };
  };

  /** Seconds since `start` at which `name` was asked. */
  askedAt(name: string, start: number): number[] {
    return this.asked.filter((question) => question.name === name).map((question) => (question.at - start) / S);
  }
}

function setup(options: NameResolutionOptions = { minTtlSeconds: 10, maxTtlSeconds: 3_600 }) {
  const clock = new FakeTimers();
  const dns = new ScriptedDns(clock);
  const outcomes: string[] = [];
  const cache = new NameCache({ lookup: dns.lookup, clock, metrics: { resolution: (outcome) => outcomes.push(outcome) } }, options);
  const changes: number[] = [];
  const start = clock.now();
  cache.onChange(() => changes.push((clock.now() - start) / S));
  const addresses = (name: string) => cache.addressesOf(name).map(({ address, expiresAt }) => [address, (expiresAt - start) / S]);
  const status = (name: string) => {
    const found = cache.status().find((entry) => entry.name === name);
    assert.ok(found, `status lists ${name}`);
    return found;
  };
  return { clock, dns, cache, changes, outcomes, start, addresses, status };
}

describe("NameCache: answers, TTLs and refresh", () => {
  it("looks a new name up at once, keeps each address until its TTL, and asks again at half the TTL", async () => {
    const { clock, dns, cache, changes, start, addresses, status } = setup();
    dns.answer("api.example.com", ["192.0.2.10", 300], ["2001:db8::10", 300]);
    cache.setNames(["api.example.com"]);
    assert.equal(cache.status()[0]?.state, "pending");
    await settle();
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.10", 300], ["2001:db8::10", 300]]);
    assert.deepEqual(changes, [0]);
    assert.equal(status("api.example.com").state, "resolved");
    assert.equal(status("api.example.com").lastAnswerAt, new Date(start).toISOString());
    assert.equal(status("api.example.com").nextRefreshAt, new Date(start + 150 * S).toISOString());

    await clock.advance(149.999 * S);
    assert.deepEqual(dns.askedAt("api.example.com", start), [0]);
    await clock.advance(0.001 * S);
    assert.deepEqual(dns.askedAt("api.example.com", start), [0, 150]);
    // The refresh pushed both expiries out: listeners hear of it (the data plane's element timeouts move).
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.10", 450], ["2001:db8::10", 450]]);
    assert.deepEqual(changes, [0, 150]);
    await clock.advance(600 * S);
    assert.deepEqual(dns.askedAt("api.example.com", start), [0, 150, 300, 450, 600, 750]);
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.10", 1_050], ["2001:db8::10", 1_050]]);
  });

  it("clamps each TTL to [min, max], and refreshes at half of the shortest effective TTL", async () => {
    const { clock, dns, cache, start, addresses } = setup({ minTtlSeconds: 30, maxTtlSeconds: 600 });
    dns.answer("short.example.com", ["192.0.2.1", 0]);
    dns.answer("long.example.com", ["192.0.2.2", 86_400]);
    dns.answer("mixed.example.com", ["192.0.2.3", 100], ["2001:db8::3", 40]);
    cache.setNames(["short.example.com", "long.example.com", "mixed.example.com"]);
    await settle();
    assert.deepEqual(addresses("short.example.com"), [["192.0.2.1", 30]]);
    assert.deepEqual(addresses("long.example.com"), [["192.0.2.2", 600]]);
    assert.deepEqual(addresses("mixed.example.com"), [["192.0.2.3", 100], ["2001:db8::3", 40]]);
    await clock.advance(600 * S);
    assert.deepEqual(dns.askedAt("short.example.com", start).slice(0, 4), [0, 15, 30, 45]);
    assert.deepEqual(dns.askedAt("long.example.com", start), [0, 300, 600]);
    assert.deepEqual(dns.askedAt("mixed.example.com", start).slice(0, 3), [0, 20, 40]);
  });

  it("stores addresses canonical, once each, and leaves out IPv4-mapped AAAA records", async () => {
    const { dns, cache, addresses } = setup();
    dns.answer("api.example.com", ["2001:DB8:0:0::1", 60], ["2001:db8::1", 120], ["::ffff:192.0.2.1", 60], ["192.0.2.1", 60]);
    cache.setNames(["api.example.com"]);
    await settle();
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.1", 60], ["2001:db8::1", 120]]);
  });

  it("bounds what one answer adds (64) and what a rotating zone makes a name hold (256), keeping the latest answer's", async () => {
    const { dns, cache, clock } = setup({ minTtlSeconds: 10, maxTtlSeconds: 3_600 });
    // One short-lived record has the name asked again every 5 s; the others live an hour.
    const block = (k: number) => Array.from({ length: 100 }, (_, i): [string, number] => [`198.51.${k}.${i}`, i === 0 ? 10 : 3_600]);
    dns.answer("rotating.example.com", ...block(0));
    cache.setNames(["rotating.example.com"]);
    await settle();
    assert.equal(cache.addressesOf("rotating.example.com").length, 64, "one answer adds at most 64");
    for (let k = 1; k <= 5; k++) {
      dns.answer("rotating.example.com", ...block(k));
      await clock.advance(5 * S);
      await settle();
    }
    const held = cache.addressesOf("rotating.example.com").map((a) => a.address);
    assert.equal(held.length, 256);
    assert.ok(block(5).slice(0, 64).every(([address]) => held.includes(address)), "the latest answer's addresses are all held");
  });

  it("starts a name from a previous run's addresses that have not expired, and keeps them through failures until then", async () => {
    const { dns, cache, clock, start, addresses } = setup();
    dns.fail("api.example.com", "queryA ETIMEOUT api.example.com");
    cache.seed([{ name: "API.example.com.", addresses: [{ address: "192.0.2.7", expiresAt: start + 30 * S }, { address: "192.0.2.8", expiresAt: start - S }] }]);
    cache.setNames(["api.example.com"]);
    await settle();
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.7", 30]], "the unexpired one, until its own expiry");
    await clock.advance(30 * S);
    await settle();
    assert.deepEqual(addresses("api.example.com"), []);
  });

  it("a lookup that fails for one family refreshes the other and keeps the failed family's addresses until they expire", async () => {
    const { dns, cache, clock, addresses, status } = setup({ minTtlSeconds: 10, maxTtlSeconds: 3_600 });
    dns.answer("api.example.com", ["192.0.2.1", 60], ["2001:db8::1", 60]);
    cache.setNames(["api.example.com"]);
    await settle();
    dns.answers.set("api.example.com", { status: "answer", addresses: [{ address: "192.0.2.1", ttl: 60 }], partialFailure: "AAAA: queryAaaa EREFUSED api.example.com" });
    await clock.advance(30 * S);
    await settle();
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.1", 90], ["2001:db8::1", 60]], "A refreshed, AAAA kept to its own expiry");
    assert.equal(status("api.example.com").state, "failing");
    assert.match(status("api.example.com").lastError ?? "", /EREFUSED/);
    await clock.advance(30 * S);
    await settle();
    assert.deepEqual(addresses("api.example.com").map(([a]) => a), ["192.0.2.1"], "the AAAA address left at its expiry");
  });

  it("compares names lower case without the trailing dot", async () => {
    const { dns, cache, start, addresses } = setup();
    dns.answer("api.example.com", ["192.0.2.10", 60]);
    cache.setNames(["API.Example.com.", "api.example.com"]);
    await settle();
    assert.deepEqual(dns.askedAt("api.example.com", start), [0]);
    assert.deepEqual(addresses("Api.EXAMPLE.com."), [["192.0.2.10", 60]]);
    assert.deepEqual(cache.status().map((entry) => entry.name), ["api.example.com"]);
  });
});

describe("NameCache: addresses that move", () => {
  it("allows a new address at once and drops the old one exactly at its own expiry, telling listeners both times", async () => {
    const { clock, dns, cache, changes, addresses } = setup();
    dns.answer("api.example.com", ["192.0.2.10", 300]);
    cache.setNames(["api.example.com"]);
    await settle();
    dns.answer("api.example.com", ["192.0.2.20", 120]);
    await clock.advance(150 * S);
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.10", 300], ["192.0.2.20", 270]]);
    assert.deepEqual(changes, [0, 150]);
    await clock.advance(149.999 * S);
    assert.deepEqual(addresses("api.example.com").map(([address]) => address), ["192.0.2.10", "192.0.2.20"]);
    await clock.advance(0.001 * S);
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.20", 390]]);
    // 210 and 270: refreshes that pushed the new address's expiry out; 300: the old address expired.
    assert.deepEqual(changes, [0, 150, 210, 270, 300]);
  });

  it("never hands out an expired address, even while its expiry timer is late", async () => {
    let now = Date.UTC(2030, 0, 1);
    // Timers that never fire: only the clock moves.
    const clock = { now: () => now, setTimer: () => 0, clearTimer: () => {} };
    const lookup = async (): Promise<DnsLookup> => ({ status: "answer", addresses: [{ address: "192.0.2.10", ttl: 60 }] });
    const cache = new NameCache({ lookup, clock }, { minTtlSeconds: 10, maxTtlSeconds: 600 });
    cache.setNames(["api.example.com"]);
    await settle();
    now += 59.999 * S;
    assert.equal(cache.addressesOf("api.example.com").length, 1);
    now += 0.001 * S;
    assert.deepEqual(cache.addressesOf("api.example.com"), []);
    assert.deepEqual(cache.status()[0]?.addresses, []);
  });

  it("never shortens an expiry: an answer with less TTL left keeps the later one and changes nothing", async () => {
    const { clock, dns, cache, changes, addresses } = setup();
    dns.answer("api.example.com", ["192.0.2.10", 300]);
    cache.setNames(["api.example.com"]);
    await settle();
    // An upstream cache counting down: at 150 s it has 100 s left, less than the 150 s this cache still holds.
    dns.answer("api.example.com", ["192.0.2.10", 100]);
    await clock.advance(150 * S);
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.10", 300]]);
    assert.deepEqual(changes, [0]);
  });

  it("takes NXDOMAIN and NODATA as answers: the held addresses still leave only at their expiry", async () => {
    const { clock, dns, cache, changes, start, addresses, status } = setup({ minTtlSeconds: 20, maxTtlSeconds: 3_600 });
    dns.answer("api.example.com", ["192.0.2.10", 300]);
    cache.setNames(["api.example.com"]);
    await settle();
    dns.answer("api.example.com");
    await clock.advance(150 * S);
    assert.equal(status("api.example.com").state, "resolved");
    assert.equal(status("api.example.com").lastError, null);
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.10", 300]]);
    assert.deepEqual(changes, [0]);
    // No TTL comes with the empty answer: the floor stands in for it, so the next question is 10 s later.
    assert.deepEqual(dns.askedAt("api.example.com", start), [0, 150]);
    await clock.advance(150 * S);
    assert.deepEqual(addresses("api.example.com"), []);
    assert.deepEqual(changes, [0, 300]);
    assert.deepEqual(dns.askedAt("api.example.com", start).slice(0, 4), [0, 150, 160, 170]);
  });
});

describe("NameCache: failures", () => {
  it("keeps the last good addresses until their expiry, backs off, and never asks later than before that expiry", async () => {
    const { clock, dns, cache, changes, outcomes, start, addresses, status } = setup();
    dns.answer("api.example.com", ["192.0.2.10", 60]);
    cache.setNames(["api.example.com"]);
    await settle();
    dns.fail("api.example.com", "A: queryA ETIMEOUT api.example.com");
    await clock.advance(30 * S);
    const failing = status("api.example.com");
    assert.equal(failing.state, "failing");
    assert.equal(failing.lastError, "A: queryA ETIMEOUT api.example.com");
    assert.equal(failing.consecutiveFailures, 1);
    assert.equal(failing.lastAnswerAt, new Date(start).toISOString());
    assert.equal(failing.nextRefreshAt, new Date(start + 31 * S).toISOString());
    assert.deepEqual(failing.addresses, [{ address: "192.0.2.10", expiresAt: start + 60 * S }]);

    await clock.advance(29.999 * S);
    // 1, 2, 4, 8 s; then 16 s would be after the expiry at 60 s, so the retry comes 1 s before it, then 1 s later.
    assert.deepEqual(dns.askedAt("api.example.com", start), [0, 30, 31, 33, 37, 45, 59]);
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.10", 60]]);
    assert.deepEqual(changes, [0]);
    await clock.advance(0.001 * S);
    assert.deepEqual(addresses("api.example.com"), []);
    assert.deepEqual(changes, [0, 60]);
    assert.equal(status("api.example.com").consecutiveFailures, 7);

    // With nothing left to save, the backoff runs to its cap.
    await clock.advance(120 * S);
    const asked = dns.askedAt("api.example.com", start);
    assert.deepEqual(asked.slice(6), [59, 60, 90, 120, 150, 180]);
    assert.equal(RETRY_MAX_MS, 30 * S);

    dns.answer("api.example.com", ["192.0.2.11", 60]);
    await clock.advance(30 * S);
    const recovered = status("api.example.com");
    assert.equal(recovered.state, "resolved");
    assert.equal(recovered.lastError, null);
    assert.equal(recovered.consecutiveFailures, 0);
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.11", 270]]);
    assert.deepEqual(outcomes.filter((outcome) => outcome === "answer").length, 2);
    assert.ok(outcomes.filter((outcome) => outcome === "failed").length >= 10);
  });

  it("doubles the retry delay up to 30 s while the addresses have long to live", async () => {
    const { clock, dns, cache, start, addresses } = setup();
    dns.answer("api.example.com", ["192.0.2.10", 3_600]);
    cache.setNames(["api.example.com"]);
    await settle();
    dns.fail("api.example.com", "A: queryA ESERVFAIL api.example.com");
    await clock.advance(1_800 * S + 200 * S);
    const delays = dns.askedAt("api.example.com", start).slice(1).map((at, index, all) => (index === 0 ? at - 1_800 : at - (all[index - 1] ?? 0)));
    assert.deepEqual(delays.slice(0, 8), [0, 1, 2, 4, 8, 16, 30, 30]);
    assert.deepEqual(addresses("api.example.com"), [["192.0.2.10", 3_600]]);
  });

  it("takes a lookup that throws as a failure", async () => {
    const clock = new FakeTimers();
    const cache = new NameCache({ lookup: () => Promise.reject(new Error("socket closed")), clock }, { minTtlSeconds: 10, maxTtlSeconds: 60 });
    cache.setNames(["api.example.com"]);
    await settle();
    const [entry] = cache.status();
    assert.equal(entry?.state, "failing");
    assert.equal(entry?.lastError, "socket closed");
    assert.equal(entry?.nextRefreshAt, new Date(clock.now() + 1 * S).toISOString());
    cache.stop();
  });
});

describe("NameCache: names come and go", () => {
  it("forgets a removed name with its addresses (telling listeners) and looks a returning one up afresh", async () => {
    const { clock, dns, cache, changes, start, addresses } = setup();
    dns.answer("a.example.com", ["192.0.2.1", 300]);
    dns.answer("b.example.com", ["192.0.2.2", 300]);
    cache.setNames(["a.example.com", "b.example.com"]);
    await settle();
    assert.deepEqual(changes, [0, 0]);
    await clock.advance(10 * S);
    cache.setNames(["b.example.com"]);
    assert.deepEqual(addresses("a.example.com"), []);
    assert.deepEqual(cache.status().map((entry) => entry.name), ["b.example.com"]);
    assert.deepEqual(changes, [0, 0, 10]);
    await clock.advance(300 * S);
    // The removed name's timers went with it: no refresh at 150 s, no expiry notice at 300 s for it.
    assert.deepEqual(dns.askedAt("a.example.com", start), [0]);
    cache.setNames(["a.example.com", "b.example.com"]);
    await settle();
    assert.deepEqual(dns.askedAt("a.example.com", start), [0, 310]);
    assert.deepEqual(addresses("a.example.com"), [["192.0.2.1", 610]]);
  });

  it("ignores the answer to a question asked before the name was removed", async () => {
    const { dns, cache, changes, addresses } = setup();
    dns.answer("a.example.com", ["192.0.2.1", 300]);
    dns.hold();
    cache.setNames(["a.example.com"]);
    cache.setNames([]);
    dns.release();
    await settle();
    assert.deepEqual(addresses("a.example.com"), []);
    assert.deepEqual(cache.status(), []);
    assert.deepEqual(changes, []);
  });

  it("shows a name as pending, with no next refresh, while its first question is out", async () => {
    const { dns, cache, status } = setup();
    dns.hold();
    cache.setNames(["a.example.com"]);
    assert.deepEqual(status("a.example.com"), {
      name: "a.example.com", state: "pending", addresses: [], lastAnswerAt: null, lastError: null, consecutiveFailures: 0, nextRefreshAt: null,
    });
    dns.release();
    await settle();
    assert.equal(status("a.example.com").state, "resolved");
  });

  it("stop() clears every timer and ignores answers still in flight", async () => {
    const { clock, dns, cache, changes } = setup();
    dns.answer("a.example.com", ["192.0.2.1", 300]);
    dns.answer("b.example.com", ["192.0.2.2", 300]);
    cache.setNames(["a.example.com"]);
    await settle();
    assert.equal(clock.timerCount, 2, "a refresh and an expiry timer");
    dns.hold();
    cache.setNames(["a.example.com", "b.example.com"]);
    cache.stop();
    assert.equal(clock.timerCount, 0);
    dns.release();
    await clock.advance(3_600 * S);
    assert.equal(dns.asked.length, 2);
    assert.deepEqual(changes, [0]);
    assert.deepEqual(cache.status(), []);
  });

  it("a listener that throws does not keep the others from hearing, nor stop the expiry", async () => {
    const { clock, dns, cache, changes, addresses } = setup();
    cache.onChange(() => {
      throw new Error("listener bug");
    });
    const after: number[] = [];
    cache.onChange(() => after.push(clock.now()));
    dns.answer("a.example.com", ["192.0.2.1", 20]);
    cache.setNames(["a.example.com"]);
    await settle();
    dns.answer("a.example.com");
    await clock.advance(20 * S);
    assert.deepEqual(addresses("a.example.com"), []);
    assert.deepEqual(changes, [0, 20]);
    assert.equal(after.length, 2);
  });

  it("refuses TTL bounds that would let an address expire as it arrives", () => {
    const deps = { lookup: async (): Promise<DnsLookup> => ({ status: "answer", addresses: [] }), clock: new FakeTimers() };
    assert.throws(() => new NameCache(deps, { minTtlSeconds: 0, maxTtlSeconds: 60 }), RangeError);
    assert.throws(() => new NameCache(deps, { minTtlSeconds: 60, maxTtlSeconds: 30 }), RangeError);
  });
});
