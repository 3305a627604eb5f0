import assert from "node:assert/strict";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, beforeEach, describe, it } from "node:test";
import { pino } from "pino";
import { openSyslogSender, type SyslogSender } from "../../../appliance/system/syslog-sender.js";
import { until } from "../../helpers/until.js";

const quiet = pino({ enabled: false });
const message = (i: number) => `<134>1 2026-12-02T10:15:30.123Z gw-a egw - translation-open [translation@32473 n="${i}"] n ${i} ü`;

/** A UDP collector on loopback: every datagram as text. */
async function udpCollector(): Promise<{ socket: UdpSocket; port: number; received: string[] }> {
  const socket = createSocket("udp4");
  const received: string[] = [];
  socket.on("message", (data) => received.push(data.toString("utf8")));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { socket, port: socket.address().port, received };
}

/** A TCP collector on loopback that reads RFC 6587 octet-counted frames. */
class TcpCollector {
  readonly received: string[] = [];
  readonly connections = new Set<Socket>();
  private server: Server | undefined;

  async listen(port = 0): Promise<number> {
    const server = createServer((socket) => {
      this.connections.add(socket);
      socket.on("close", () => this.connections.delete(socket));
      let pending = Buffer.alloc(0);
      socket.on("data", (data) => {
        pending = Buffer.concat([pending, data]);
        for (;;) {
          const space = pending.indexOf(0x20);
          if (space < 0) return;
          const length = Number(pending.subarray(0, space).toString("ascii"));
          assert.ok(Number.isInteger(length) && length > 0, "MSG-LEN is a positive decimal");
          if (pending.length < space + 1 + length) return;
          this.received.push(pending.subarray(space + 1, space + 1 + length).toString("utf8"));
          pending = pending.subarray(space + 1 + length);
        }
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return (server.address() as AddressInfo).port;
  }

  /** Stops listening and cuts every connection, like a collector that dies. */
  async stop(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A loopback port nobody listens on (bound, then released). */
async function closedUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

async function closedTcpPort(): Promise<number> {
  const collector = new TcpCollector();
  const port = await collector.listen();
  await collector.stop();
  return port;
}

describe("syslog sender: delivery to a collector on loopback", () => {
  const cleanups: (() => Promise<void>)[] = [];
  let senders: SyslogSender[];
  beforeEach(() => { senders = []; });
  afterEach(async () => {
    await Promise.all(senders.map((sender) => sender.close(500)));
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  const open = (options: Parameters<typeof openSyslogSender>[0]) => {
    const sender = openSyslogSender(options, quiet);
    senders.push(sender);
    return sender;
  };

  it("UDP: one message per datagram, unframed, byte for byte", async () => {
    const collector = await udpCollector();
    cleanups.push(() => new Promise((resolve) => collector.socket.close(() => resolve())));
    const sender = open({ host: "127.0.0.1", port: collector.port, transport: "udp" });
    const sent = Array.from({ length: 100 }, (_, i) => message(i));
    for (const text of sent) assert.equal(sender.write(text), true);
    await until(() => collector.received.length === 100, "every datagram received");
    assert.deepEqual(collector.received, sent);
    await until(() => sender.stats().written === 100, "every send confirmed");
    assert.deepEqual(sender.stats(), { written: 100, dropped: 0, queued: 0, error: null, connected: true });
  });

  it("UDP: a collector that is not listening costs counted drops, never a crash", async () => {
    const sender = open({ host: "127.0.0.1", port: await closedUdpPort(), transport: "udp" });
    let i = 0;
    // Loopback answers with ICMP port unreachable, which the connected socket reports on a following send.
    await until(() => {
      sender.write(message(i++));
      return sender.stats().dropped > 0;
    }, "a refused send counted");
    assert.equal(sender.stats().error, "ECONNREFUSED");
    assert.equal(sender.stats().connected, false);
  });

  it("TCP: octet-counted frames (RFC 6587), multi-byte characters counted in bytes", async () => {
    const collector = new TcpCollector();
    const port = await collector.listen();
    cleanups.push(() => collector.stop());
    const sender = open({ host: "127.0.0.1", port, transport: "tcp" });
    const sent = Array.from({ length: 2_000 }, (_, i) => message(i));
    for (const text of sent) sender.write(text);
    await until(() => collector.received.length === sent.length, "every frame received");
    assert.deepEqual(collector.received, sent);
    await until(() => sender.stats().written === sent.length, "every write confirmed");
    assert.deepEqual(sender.stats(), { written: 2_000, dropped: 0, queued: 0, error: null, connected: true });
  });

  it("TCP: a collector that is down fills the bounded queue, then drops and counts, without a crash", async () => {
    const sender = open({ host: "127.0.0.1", port: await closedTcpPort(), transport: "tcp", queueLimit: 10 * message(0).length });
    await until(() => sender.stats().error === "ECONNREFUSED", "the refused connection reported");
    for (let i = 0; i < 25; i++) sender.write(message(i));
    assert.deepEqual(sender.stats(), { written: 0, dropped: 15, queued: 10, error: "ECONNREFUSED", connected: false });
  });

  it("TCP: reconnects when the collector returns and sends what was queued meanwhile", async () => {
    const collector = new TcpCollector();
    const port = await collector.listen();
    cleanups.push(() => collector.stop());
    const sender = open({ host: "127.0.0.1", port, transport: "tcp" });
    sender.write(message(0));
    await until(() => collector.received.length === 1, "the first message received");

    await collector.stop();
    await until(() => !sender.stats().connected, "the sender noticed the collector gone");
    for (let i = 1; i <= 5; i++) sender.write(message(i));
    assert.equal(sender.stats().queued, 5);

    await collector.listen(port);
    await until(() => collector.received.length === 6, "the queued messages received after the reconnect", 10_000);
    assert.deepEqual(collector.received, Array.from({ length: 6 }, (_, i) => message(i)));
    assert.equal(sender.stats().connected, true);
    assert.equal(sender.stats().error, null);
  });

  it("close() sends what is queued first", async () => {
    const collector = new TcpCollector();
    const port = await collector.listen();
    cleanups.push(() => collector.stop());
    const sender = openSyslogSender({ host: "127.0.0.1", port, transport: "tcp" }, quiet);
    await until(() => sender.stats().connected, "connected");
    for (let i = 0; i < 50; i++) sender.write(message(i));
    await sender.close();
    await until(() => collector.received.length === 50, "every queued message received");
    assert.equal(sender.write(message(51)), false);
    assert.deepEqual(sender.stats(), { written: 50, dropped: 1, queued: 0, error: null, connected: false });
  });
});
