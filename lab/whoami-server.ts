// Standalone "who am I" server, run with node inside the server namespace:
//   node whoami-server.js [--port 8080] [--stream] [--stream-port 8081]
// Each connection on --port receives the source address the server saw, then is closed: that address is what a
// firewall would see, so it is what NAT tests assert on. With --stream, --stream-port echoes every byte back, for
// tests that hold a connection open across changes (failover, re-apply).
// Prints "ready" on stdout once every listener is bound.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    stream: { type: 'boolean', default: false },
    'stream-port': { type: 'string', default: '8081' },
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

await Promise.all(listeners);
process.stdout.write('ready\n');

// Exit promptly and quietly on the teardown's SIGTERM.
process.on('SIGTERM', () => process.exit(0));
