// UDP probes for tests: a sink that reports every datagram it receives (source address and payload), and senders
// that run inside a pod or node namespace. UDP shows what TCP hides: a datagram that leaves untranslated still
// arrives at the server (it only cannot be answered), so a sink sees exactly what crossed the gateway.
import type { Readable } from 'node:stream';
import type { Netns } from './netns.js';

export interface Datagram {
  /** Source address as the sink saw it. */
  from: string;
  /** The payload: `TAG-SEQ` from our senders. */
  data: string;
  /** When the test process read it (ms since the epoch). */
  at: number;
}

// One socket per family (the IPv6 one IPv6-only), so IPv4 sources are reported as plain IPv4 addresses.
const SINK = `
const dgram = require('node:dgram');
const port = Number(process.argv[1]);
let ready = 0;
for (const type of ['udp4', 'udp6']) {
  const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  socket.on('message', (msg, rinfo) => process.stdout.write(JSON.stringify({ from: rinfo.address, data: msg.toString() }) + '\\n'));
  socket.bind(port, type === 'udp4' ? '0.0.0.0' : '::', () => { if (++ready === 2) process.stdout.write('ready\\n'); });
}
`;

// Sends TAG-0, TAG-1, ... every intervalMs (count 0: until killed), optionally from a given local address. A send
// that fails (no route while the gateway black-holes) is simply lost, as a datagram would be.
const SENDER = `
const dgram = require('node:dgram');
const [host, port, intervalMs, count, tag, bind] = process.argv.slice(1);
const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
socket.on('error', () => {});
let seq = 0;
const send = () => {
  socket.send(tag + '-' + seq++, Number(port), host, () => {
    if (Number(count) > 0 && seq >= Number(count)) { socket.close(); return; }
    setTimeout(send, Number(intervalMs));
  });
};
const start = () => { process.stdout.write('ready\\n'); send(); };
if (bind) socket.bind({ address: bind }, start); else start();
`;

export interface UdpSink {
  datagrams: Datagram[];
  stop(): Promise<void>;
}

function onLines(stream: Readable | null, onLine: (line: string) => void): void {
  let partial = '';
  stream?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onLine(line);
  });
}

function readyOf(sub: ReturnType<Netns['spawn']>, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    onLines(sub.stdout as Readable | null, (line) => line === 'ready' && resolve());
    sub.then(() => reject(new Error(`${what} exited before it was ready`)), (error: unknown) => reject(new Error(`${what} failed`, { cause: error })));
  });
}

/** Starts the sink in `ns` (tracked for teardown) and resolves once both sockets listen. */
export async function startUdpSink(ns: Netns, port: number): Promise<UdpSink> {
  const sub = ns.spawn(process.execPath, ['-e', SINK, String(port)]);
  const datagrams: Datagram[] = [];
  onLines(sub.stdout as Readable | null, (line) => {
    if (line === 'ready') return;
    datagrams.push({ ...(JSON.parse(line) as { from: string; data: string }), at: Date.now() });
  });
  await readyOf(sub, 'the UDP sink');
  return { datagrams, stop: async () => void sub.kill('SIGTERM') };
}

export interface UdpSenderOptions {
  host: string;
  port: number;
  tag: string;
  intervalMs?: number;
  /** 0 (default): until stopped. */
  count?: number;
  /** Local source address to send from (it must be assigned in the namespace). */
  bind?: string;
}

export interface UdpSender {
  /** Resolves when the sender has sent all `count` datagrams (never for count 0). */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Starts a sender in `ns`; resolves once it sends. */
export async function startUdpSender(ns: Netns, options: UdpSenderOptions): Promise<UdpSender> {
  const sub = ns.spawn(process.execPath, ['-e', SENDER, options.host, String(options.port), String(options.intervalMs ?? 2),
    String(options.count ?? 0), options.tag, ...(options.bind ? [options.bind] : [])], { reject: false });
  await readyOf(sub, 'the UDP sender');
  return {
    done: sub.then(() => undefined),
    stop: async () => {
      sub.kill('SIGTERM');
      await sub;
    },
  };
}
