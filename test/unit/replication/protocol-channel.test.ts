import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { pino } from "pino";
import { createPeerApp } from "../../../api/peer-app.js";
import { AppError } from "../../../appliance/errors.js";
import { Follower } from "../../../appliance/replication/follower.js";
import { Replicator } from "../../../appliance/replication/leader.js";
import { PeerClient } from "../../../appliance/replication/peer-client.js";
import type { PeerRequest, PeerResponse, PeerTransport } from "../../../appliance/replication/peer-transport.js";
import { ProtocolGuard } from "../../../appliance/replication/protocol-guard.js";
import { PROTOCOL_ACCEPTS_HEADER, PROTOCOL_HEADER, REPLICATION_PROTOCOL, type ProtocolRange } from "../../../appliance/replication/protocol.js";
import { createEgressIp } from "../../../appliance/service/egress-ips.js";
import type { Store } from "../../../appliance/store/store.js";
import { installHa } from "../api/ha-deps.js";
import { Harness } from "../api/harness.js";
import { dumpReplicated, followerContext, mustWrite, openStore, OWN } from "./replication-helpers.js";
import { held } from "./stub-peer.js";

type LogLine = { level: number; msg: string; [key: string]: unknown };

const TIMEOUT_MS = 3_000;

function capture(lines: LogLine[]) {
  return pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
}

/** A gateway's receiving side: its store, the real peer app (protocol check, then the follower) and its log. */
class Receiver {
  readonly h = new Harness();
  readonly log: LogLine[] = [];
  readonly peerApp;

  constructor(range: ProtocolRange, readonly name = "gw-b", readonly peer = "gw-a") {
    const log = capture(this.log);
    installHa(this.h, {
      follower: new Follower(this.h.store, followerContext(name, peer), log),
      protocol: new ProtocolGuard({ name, peer, range, log }),
    });
    this.h.deps.log = log;
    this.peerApp = createPeerApp(this.h.deps, this.h.app, { bodyLimitBytes: 1 << 20, peerName: peer });
  }

  get guard(): ProtocolGuard {
    return this.h.deps.ha!.protocol;
  }

  /** The gateway is upgraded (or downgraded) in place: it speaks `range` from now on. */
  speak(range: ProtocolRange): void {
    this.h.deps.ha!.protocol = new ProtocolGuard({ name: this.name, peer: this.peer, range, log: capture(this.log) });
  }
}

interface Exchange {
  method: string;
  path: string;
  sent: Record<string, string>;
  status: number;
  answered: Record<string, string | string[] | undefined>;
}

/**
 * A PeerTransport that hands each request to the receiver's peer app, as mutual TLS would deliver it, and
 * records both ends. `legacy` plays a peer of the release before this one on the other side: its requests
 * carry no version headers (`sender`), or its answers carry none (`receiver`).
 */
function transportTo(receiver: Receiver, exchanges: Exchange[], legacy?: "sender" | "receiver"): PeerTransport {
  const strip = (headers: Record<string, string | string[] | undefined>) =>
    Object.fromEntries(Object.entries(headers).filter(([name]) => ![PROTOCOL_HEADER, PROTOCOL_ACCEPTS_HEADER].includes(name)));
  return {
    peer: { name: receiver.name, address: "192.168.255.2", port: 7443 },
    request: async (method: string, path: string, options: PeerRequest): Promise<PeerResponse> => {
      const sent = legacy === "sender" ? strip(options.headers ?? {}) as Record<string, string> : { ...options.headers };
      const answer = await receiver.peerApp.fetch(new Request(`https://192.168.255.2:7443${path}`, {
        method, headers: sent, body: options.body === undefined ? undefined : new Uint8Array(Buffer.from(options.body)),
      }));
      const answered = legacy === "receiver" ? strip(Object.fromEntries(answer.headers)) : Object.fromEntries(answer.headers);
      exchanges.push({ method, path, sent, status: answer.status, answered });
      return { status: answer.status, headers: answered, body: Buffer.from(await answer.arrayBuffer()) };
    },
  } as unknown as PeerTransport;
}

describe("the peer channel between gateways of different replication protocol versions", () => {
  const replicators: Replicator[] = [];
  afterEach(() => {
    for (const r of replicators.splice(0)) r.stop();
  });

  /** gw-a leads with `range` and replicates to `receiver` over its peer app. */
  function leaderFor(receiver: Receiver, range: ProtocolRange, legacy?: "sender" | "receiver") {
    const exchanges: Exchange[] = [];
    const log: LogLine[] = [];
    const store = openStore("gw-a");
    const client = new PeerClient(transportTo(receiver, exchanges, legacy), 1_000, 1 << 20, { name: "gw-a", range });
    const replicator = new Replicator({ store, name: "gw-a", peers: [client], slot: 0, timeoutMs: TIMEOUT_MS, revocationTimeoutMs: TIMEOUT_MS, log: capture(log) });
    replicators.push(replicator);
    return { store, client, replicator, exchanges, log };
  }

  const write = (store: Store, address: string) => mustWrite(store, (tx) => createEgressIp(tx, { address }, OWN)).revision;
  const versionsSent = (exchanges: Exchange[]) => exchanges.map((e) => e.sent[PROTOCOL_HEADER]);

  it("same release: replicates, every message and every answer states the version and the range", async () => {
    const b = new Receiver(REPLICATION_PROTOCOL);
    const a = leaderFor(b, REPLICATION_PROTOCOL);
    await a.replicator.becomeLeader();
    const revision = write(a.store, "203.0.113.10");
    const [outcome] = await held(a.replicator.replicate(revision));
    assert.equal(outcome?.outcome, "confirmed");
    assert.deepEqual(dumpReplicated(b.h.db), dumpReplicated(a.store.db));
    assert.ok(a.exchanges.length >= 2);
    for (const e of a.exchanges) {
      assert.equal(e.sent[PROTOCOL_HEADER], "2");
      assert.equal(e.sent[PROTOCOL_ACCEPTS_HEADER], "1-2");
      assert.equal(e.answered[PROTOCOL_HEADER], "2");
      assert.equal(e.answered[PROTOCOL_ACCEPTS_HEADER], "1-2");
    }
  });

  it("N leads N+1 (1-2 to 2-3): replicates in version 2", async () => {
    const b = new Receiver({ oldest: 2, newest: 3 });
    const a = leaderFor(b, { oldest: 1, newest: 2 });
    await a.replicator.becomeLeader();
    const revision = write(a.store, "203.0.113.10");
    assert.equal((await held(a.replicator.replicate(revision)))[0]?.outcome, "confirmed");
    assert.deepEqual(dumpReplicated(b.h.db), dumpReplicated(a.store.db));
    assert.deepEqual([...new Set(versionsSent(a.exchanges))], ["2"]);
    assert.deepEqual(a.client.peerProtocol, { oldest: 2, newest: 3 });
  });

  it("N+1 leads N (2-3 to 1-2): its first call, in 3, is refused and resent in 2; no warning on either side", async () => {
    const b = new Receiver({ oldest: 1, newest: 2 });
    const a = leaderFor(b, { oldest: 2, newest: 3 });
    await a.replicator.becomeLeader();
    const revision = write(a.store, "203.0.113.10");
    assert.equal((await held(a.replicator.replicate(revision)))[0]?.outcome, "confirmed");
    assert.deepEqual(dumpReplicated(b.h.db), dumpReplicated(a.store.db));
    const versions = versionsSent(a.exchanges);
    assert.equal(versions[0], "3");
    assert.equal(a.exchanges[0]?.status, 409);
    assert.ok(versions.slice(1).every((v) => v === "2"), versions.join(","));
    assert.deepEqual(b.guard.warnings(), []);
    assert.deepEqual(b.log.filter((l) => l.level >= 40), []);
    assert.deepEqual(a.replicator.peers()[0]?.status, "in-sync");
  });

  it("this release leads the release before it (answers without headers): learns version 1 and replicates", async () => {
    const b = new Receiver(REPLICATION_PROTOCOL);
    const a = leaderFor(b, REPLICATION_PROTOCOL, "receiver");
    await a.replicator.becomeLeader();
    const revision = write(a.store, "203.0.113.10");
    assert.equal((await held(a.replicator.replicate(revision)))[0]?.outcome, "confirmed");
    assert.deepEqual(dumpReplicated(b.h.db), dumpReplicated(a.store.db));
    assert.deepEqual(a.client.peerProtocol, { oldest: 1, newest: 1 });
    assert.equal(versionsSent(a.exchanges).at(-1), "1", "after the first answer, written in version 1");
  });

  it("the release before leads this one (requests without headers): taken as version 1 and replicated", async () => {
    const b = new Receiver(REPLICATION_PROTOCOL);
    const a = leaderFor(b, REPLICATION_PROTOCOL, "sender");
    await a.replicator.becomeLeader();
    const revision = write(a.store, "203.0.113.10");
    assert.equal((await held(a.replicator.replicate(revision)))[0]?.outcome, "confirmed");
    assert.deepEqual(dumpReplicated(b.h.db), dumpReplicated(a.store.db));
    assert.ok(a.exchanges.every((e) => e.sent[PROTOCOL_HEADER] === undefined));
    assert.deepEqual(b.guard.peerRange, { oldest: 1, newest: 1 });
  });

  it("out of range (1-2 leads 3-4): nothing is applied, the leader stops and says why, the pair keeps serving", async () => {
    const b = new Receiver({ oldest: 3, newest: 4 });
    const a = leaderFor(b, { oldest: 1, newest: 2 });
    const before = b.h.snapshot();
    await a.replicator.becomeLeader();
    const started = Date.now();
    const revision = write(a.store, "203.0.113.10");
    const [outcome] = await held(a.replicator.replicate(revision));
    assert.ok(Date.now() - started < TIMEOUT_MS, "the write is not held for the timeout: the peer can never confirm it");
    assert.equal(outcome?.outcome, "unreachable");
    assert.equal(outcome?.status, "incompatible");
    assert.match(outcome?.lastError ?? "", /gw-b speaks replication protocol 3-4, gw-a speaks 1-2: no version in common/);
    assert.deepEqual(b.h.snapshot(), before, "nothing reached the follower's store");
    assert.ok(a.exchanges.every((e) => e.method === "GET"), "only state probes, no configuration was sent");

    // The refusal on the wire: problem+json naming both gateways and both versions, with the receiver's range.
    const refused = a.exchanges[0]!;
    assert.equal(refused.status, 409);
    assert.equal(refused.answered["content-type"], "application/problem+json");
    assert.equal(refused.answered[PROTOCOL_ACCEPTS_HEADER], "3-4");

    // Both sides say so: the leader logs an error once and its status; the receiver warns once.
    await held(a.replicator.replicate(revision));
    assert.equal(a.log.filter((l) => l.msg.startsWith("not replicating to the peer")).length, 1);
    assert.match(b.guard.warnings()[0] ?? "", /refusing replication messages from gw-a: gw-a speaks replication protocol 1-2 \(this message: version 2\), gw-b speaks 3-4/);
    assert.equal(b.log.filter((l) => l.msg === "refused the peer's replication messages: incompatible replication protocol").length, 1);

    // Each keeps serving its API, and the leader keeps taking writes.
    const write2 = await a.replicator.replicate(write(a.store, "203.0.113.11"));
    assert.equal(write2[0]?.status, "incompatible");
    assert.equal((await b.h.admin("GET", "/v1/egress-ips")).status, 200);

    // The follower is upgraded to a release that shares version 2: replication resumes by itself.
    b.speak({ oldest: 2, newest: 3 });
    const [resumed] = await held(a.replicator.replicate(a.store.revision()));
    assert.equal(resumed?.outcome, "confirmed");
    assert.equal(resumed?.status, "in-sync");
    assert.deepEqual(dumpReplicated(b.h.db), dumpReplicated(a.store.db));
    assert.ok(a.log.some((l) => l.msg.startsWith("the peer's replication protocol is compatible again")));
  });

  it("refuses an incompatible peer's message before reading its body: an oversized one is 409, not 413", async () => {
    const b = new Receiver(REPLICATION_PROTOCOL);
    const answer = await b.peerApp.fetch(new Request("https://192.168.255.2:7443/internal/v1/replication/snapshot", {
      method: "POST",
      headers: { "content-type": "application/json", [PROTOCOL_HEADER]: "9", [PROTOCOL_ACCEPTS_HEADER]: "9-9" },
      body: new Uint8Array(2 << 20),
    }));
    assert.equal(answer.status, 409);
    const problem = await answer.json() as { code: string; detail: string; gateway: unknown; peer: unknown };
    assert.equal(problem.code, "incompatible-peer");
    assert.match(problem.detail, /gw-a speaks replication protocol 9 \(this message: version 9\), gw-b speaks 1-2/);
    assert.deepEqual(problem.gateway, { name: "gw-b", protocol: { oldest: 1, newest: 2 } });
    assert.deepEqual(problem.peer, { name: "gw-a", protocol: { oldest: 9, newest: 9 }, version: 9 });
    assert.equal(answer.headers.get(PROTOCOL_ACCEPTS_HEADER), "1-2");
  });

  it("a backup of an incompatible release gets incompatible-peer for a forwarded write; the leader stores nothing", async () => {
    const leader = new Receiver({ oldest: 1, newest: 2 }, "gw-a", "gw-b");
    const before = leader.h.snapshot();
    const backup = new PeerClient(transportTo(leader, []), 1_000, 1 << 20, { name: "gw-b", range: { oldest: 3, newest: 4 } });
    const body = new TextEncoder().encode(JSON.stringify({ address: "203.0.113.10" }));
    await assert.rejects(
      backup.forward("POST", "/v1/egress-ips", new Headers({ "content-type": "application/json" }), body.buffer, { kind: "admin", name: "admin" }),
      (error: unknown) => error instanceof AppError && error.code === "incompatible-peer" && /gw-a speaks replication protocol 1-2, gw-b speaks 3-4/.test(error.message),
    );
    assert.deepEqual(leader.h.snapshot(), before);
  });
});
