import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { isIPv6 } from "node:net";
import { createConnection, type Socket as TcpSocket } from "node:net";
import type { Logger } from "pino";
import type { LineWriter, LineWriterStats } from "./rotating-file.js";

export interface SyslogSenderOptions {
  host: string;
  port: number;
  /** udp: one message per datagram (RFC 5426); tcp: octet-counted frames (RFC 6587 §3.4.1). */
  transport: "udp" | "tcp";
  /** Messages waiting for the collector, in characters; beyond it messages are dropped and counted. */
  queueLimit?: number;
}

/** What one collector is doing, for status: whether it is reachable as far as this side can tell. */
export interface SyslogSenderStats extends LineWriterStats {
  connected: boolean;
}

/** A LineWriter whose "lines" are whole syslog messages (no trailing newline, no framing: the sender frames). */
export interface SyslogSender extends LineWriter {
  stats(): SyslogSenderStats;
}

const DEFAULT_QUEUE_LIMIT = 4 * 1024 * 1024;
/** Bytes the socket may hold beyond the kernel's buffer before we stop handing it more (the collector is slow). */
const SOCKET_BACKLOG_BYTES = 1024 * 1024;
/** Datagrams handed to the socket and not yet sent. */
const UDP_IN_FLIGHT = 1024;
/** How long without a refusal before a UDP collector counts as listening again. */
const UDP_RECOVERY_MS = 5_000;
const TCP_BATCH_CHARS = 256 * 1024;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 30_000;

/**
 * Sends syslog messages to one collector, best effort: the caller only queues; when the collector is down or slow,
 * messages beyond a bounded queue are dropped and counted. Never throws at the caller and never lets a socket's
 * 'error' go unhandled; a TCP connection that breaks is re-made with backoff, and what was queued meanwhile is
 * sent then. What a collector that vanished had accepted into the kernel's buffers is lost uncounted (plain
 * syslog has no acknowledgement).
 */
export function openSyslogSender(options: SyslogSenderOptions, log: Logger): SyslogSender {
  return options.transport === "udp" ? new UdpSender(options, log) : new TcpSender(options, log);
}

abstract class QueueingSender implements SyslogSender {
  protected queue: string[] = [];
  protected head = 0;
  protected queuedChars = 0;
  protected sent = 0;
  protected dropped = 0;
  protected error: string | null = null;
  protected closing = false;
  private flushScheduled = false;
  private readonly queueLimit: number;

  constructor(protected readonly options: SyslogSenderOptions, protected readonly log: Logger) {
    this.queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  }

  write(message: string): boolean {
    if (this.closing || this.queuedChars + message.length > this.queueLimit) {
      this.dropped++;
      return false;
    }
    this.queue.push(message);
    this.queuedChars += message.length;
    this.scheduleFlush();
    return true;
  }

  stats(): SyslogSenderStats {
    return { written: this.sent, dropped: this.dropped, queued: this.queue.length - this.head + this.handedOver(), error: this.error, connected: this.isConnected() };
  }

  abstract close(timeoutMs?: number): Promise<void>;
  protected abstract isConnected(): boolean;
  /** Messages handed to the socket whose outcome is not known yet. */
  protected abstract handedOver(): number;
  /** Hands queued messages to the socket while it takes them. */
  protected abstract flush(): void;

  /** Once per tick: a burst queued in one tick leaves together. */
  protected scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  protected take(): string | undefined {
    if (this.head >= this.queue.length) return undefined;
    const message = this.queue[this.head++] as string;
    this.queuedChars -= message.length;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return message;
  }

  protected dropQueued(): void {
    this.dropped += this.queue.length - this.head;
    this.queue = [];
    this.head = 0;
    this.queuedChars = 0;
  }

  protected noteError(error: Error, what: string): void {
    const code = (error as NodeJS.ErrnoException).code ?? error.message;
    if (this.error !== code) {
      this.log.warn({ collector: `${this.options.host}:${this.options.port}`, transport: this.options.transport, err: error }, what);
    }
    this.error = code;
  }

  protected noteRecovered(): void {
    if (this.error !== null) {
      this.log.info({ collector: `${this.options.host}:${this.options.port}`, transport: this.options.transport, dropped: this.dropped }, "syslog collector reachable again");
    }
    this.error = null;
  }
}

/**
 * A connected UDP socket: the name is resolved once, and a collector on a reachable host that is not listening
 * shows as ECONNREFUSED on the following sends (counted). Silence from an unreachable host cannot be seen.
 */
class UdpSender extends QueueingSender {
  private readonly socket: UdpSocket;
  private connected = false;
  private inFlight = 0;
  private lastRefusalMs = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(options: SyslogSenderOptions, log: Logger) {
    super(options, log);
    this.socket = createSocket(isIPv6(options.host) ? "udp6" : "udp4");
    this.socket.on("error", (error) => this.onSocketError(error));
    this.connect();
  }

  protected isConnected(): boolean {
    return this.connected && this.error === null;
  }

  protected handedOver(): number {
    return this.inFlight;
  }

  /**
   * A datagram the collector's host refused comes back as ICMP port unreachable, which Linux reports on the
   * connected socket's next receive: one report per lost datagram (fewer when the host rate-limits its ICMP), so
   * each moves one message from exported to dropped.
   */
  private onSocketError(error: Error): void {
    if ((error as NodeJS.ErrnoException).code === "ECONNREFUSED") {
      this.lastRefusalMs = Date.now();
      if (this.sent > 0) this.sent--;
      this.dropped++;
      this.noteError(error, "syslog collector refuses messages; they are dropped and counted");
      return;
    }
    this.noteError(error, "syslog socket failed");
  }

  private connect(): void {
    this.socket.connect(this.options.port, this.options.host, (error?: Error) => {
      if (this.closing) return;
      if (error) {
        // The name did not resolve (yet): try again later; messages wait in the bounded queue meanwhile.
        this.noteError(error, "syslog collector cannot be resolved");
        this.failures++;
        this.reconnectTimer = setTimeout(() => this.connect(), backoff(this.failures));
        this.reconnectTimer.unref();
        return;
      }
      this.connected = true;
      this.failures = 0;
      this.flush();
    });
  }

  protected flush(): void {
    if (!this.connected) return;
    while (this.inFlight < UDP_IN_FLIGHT) {
      const message = this.take();
      if (message === undefined) return;
      this.inFlight++;
      this.socket.send(message, (error) => this.afterSend(error));
    }
  }

  private afterSend(error: Error | null): void {
    this.inFlight--;
    if (error) {
      this.dropped++;
      this.noteError(error, "syslog collector refuses messages; they are dropped and counted");
    } else {
      this.sent++;
      // A send succeeds locally whether or not the collector listens: only a quiet spell without refusals is a recovery.
      if (Date.now() - this.lastRefusalMs > UDP_RECOVERY_MS) this.noteRecovered();
    }
    if (this.head < this.queue.length) this.scheduleFlush();
  }

  async close(timeoutMs = 2_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    // What is queued still leaves (the callbacks count it), unless the collector was never resolved.
    await waitFor(() => !this.connected || (this.head >= this.queue.length && this.inFlight === 0), Date.now() + timeoutMs);
    this.dropQueued();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

/** TCP with octet counting: reconnects with backoff; batches whatever is queued into one write. */
class TcpSender extends QueueingSender {
  private socket: TcpSocket | undefined;
  private connected = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Messages written to the socket whose write has not completed (sent or dropped when it does). */
  private unconfirmed = 0;

  constructor(options: SyslogSenderOptions, log: Logger) {
    super(options, log);
    this.connect();
  }

  protected isConnected(): boolean {
    return this.connected;
  }

  protected handedOver(): number {
    return this.unconfirmed;
  }

  private connect(): void {
    const socket = createConnection({ host: this.options.host, port: this.options.port });
    this.socket = socket;
    socket.setKeepAlive(true, 30_000);
    socket.on("connect", () => {
      this.connected = true;
      this.failures = 0;
      this.noteRecovered();
      this.flush();
    });
    socket.on("drain", () => this.flush());
    socket.on("error", (error) => this.noteError(error, "syslog collector connection failed; reconnecting, meanwhile messages are queued, then dropped and counted"));
    // The collector closing its end is a reason to reconnect, like an error; a collector never sends us data.
    socket.on("data", () => undefined);
    socket.on("close", () => {
      this.connected = false;
      if (this.socket === socket) this.socket = undefined;
      if (this.closing) return;
      this.failures++;
      this.reconnectTimer = setTimeout(() => this.connect(), backoff(this.failures));
      this.reconnectTimer.unref();
    });
  }

  protected flush(): void {
    const socket = this.socket;
    if (!this.connected || !socket) return;
    while (this.head < this.queue.length && socket.writableLength < SOCKET_BACKLOG_BYTES) {
      let frames = "";
      let count = 0;
      for (let message = this.take(); message !== undefined; message = frames.length < TCP_BATCH_CHARS ? this.take() : undefined) {
        frames += `${Buffer.byteLength(message)} ${message}`;
        count++;
      }
      this.unconfirmed += count;
      // The callback runs once the bytes are handed to the kernel, or with an error when the connection breaks first.
      socket.write(frames, (error) => {
        this.unconfirmed -= count;
        if (error) this.dropped += count;
        else this.sent += count;
      });
    }
  }

  async close(timeoutMs = 2_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    const deadline = Date.now() + timeoutMs;
    // What is queued still goes out if the collector takes it in time; the rest is counted as dropped.
    await waitFor(() => !this.connected || (this.head >= this.queue.length && this.unconfirmed === 0), deadline);
    this.dropQueued();
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.end();
    await waitFor(() => socket.destroyed, deadline);
    socket.destroy();
    await closed;
  }
}

async function waitFor(condition: () => boolean, deadline: number): Promise<void> {
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}

function backoff(failures: number): number {
  const base = Math.min(RECONNECT_MIN_MS * 2 ** Math.min(failures - 1, 10), RECONNECT_MAX_MS);
  // Jitter, so that a pair of gateways does not reconnect to a restarted collector in lockstep.
  return Math.round(base * (0.75 + Math.random() * 0.5));
}
