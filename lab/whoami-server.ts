// Standalone "who am I" server, run with node inside the server namespace:
//   node whoami-server.js [--port 8080] [--stream] [--stream-port 8081] [--tuple-port 8083]
// Each connection on --port receives the source address the server saw, then is closed: that address is what a
// firewall would see, so it is what NAT tests assert on. With --stream, --stream-port echoes every byte back, for
// tests that hold a connection open across changes (failover, re-apply). --tuple-port answers, over TCP and UDP,
// "ADDRESS PORT": the source address and port the server saw, which is what a firewall logs and what a reverse
// lookup of the translation log starts from.
// Prints "ready" on stdout once every listener is bound.
import dgram from 'node:dgram';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    stream: { type: 'boolean', default: false },
    'stream-port': { type: 'string', default: '8081' },
    'tuple-port': { type: 'string', default: '8083' },
  },
});

/** A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; tests compare against plain IPv4. */
function normalise(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // ipv6Only false: one socket serves both families, so tests use one port for v4 and v6.
    server.listen({ host: '::', port, ipv6Only: false }, () => resolve());
  });
}

const whoami = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.end(`${normalise(socket.remoteAddress)}\n`);
});

const listeners = [listen(whoami, Number(values.port))];
if (values.stream) {
  const echo = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  listeners.push(listen(echo, Number(values['stream-port'])));
}

const tuple = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.end(`${normalise(socket.remoteAddress)} ${socket.remotePort}\n`);
});
listeners.push(listen(tuple, Number(values['tuple-port'])));
const tupleUdp = dgram.createSocket({ type: 'udp6', ipv6Only: false });
tupleUdp.on('message', (_msg, rinfo) => tupleUdp.send(`${normalise(rinfo.address)} ${rinfo.port}\n`, rinfo.port, rinfo.address));
tupleUdp.on('error', () => undefined);
listeners.push(new Promise<void>((resolve) => tupleUdp.bind({ port: Number(values['tuple-port']), address: '::' }, resolve)));

await Promise.all(listeners);
process.stdout.write('ready\n');

// Exit promptly and quietly on the teardown's SIGTERM.
process.on('SIGTERM', () => process.exit(0));
