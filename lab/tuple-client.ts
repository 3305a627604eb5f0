// Client side of the whoami server's tuple port: one TCP connection or one UDP datagram from inside a pod, with
// both ends of the translation: the pod's own address and port, and the address and port the server saw.
import type { Netns } from './netns.js';

export interface SeenTuple {
  podAddress: string;
  podPort: number;
  seenAddress: string;
  seenPort: number;
}

// Runs as `node -e` inside the pod; prints one JSON result. UDP is re-sent until answered, so a first datagram
// lost while a neighbour resolves does not fail the test; each re-send keeps the same local port (one flow).
const CLIENT = `
const [protocol, host, port, timeoutMs] = process.argv.slice(1);
const done = (result) => { process.stdout.write(JSON.stringify(result)); process.exit(0); };
const parse = (text, local) => {
  const [seenAddress, seenPort] = text.trim().split(' ');
  return { ok: true, podAddress: local.address, podPort: local.port, seenAddress, seenPort: Number(seenPort) };
};
setTimeout(() => done({ ok: false, error: 'ETIMEDOUT' }), Number(timeoutMs));
if (protocol === 'tcp') {
  const socket = require('node:net').connect({ host, port: Number(port) });
  let data = '';
  let local;
  socket.on('connect', () => { local = { address: socket.localAddress, port: socket.localPort }; });
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => { data += chunk; });
  socket.on('end', () => done(data ? parse(data, local) : { ok: false, error: 'ENODATA' }));
  socket.on('error', (err) => done({ ok: false, error: err.code || err.message }));
} else {
  const socket = require('node:dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (msg) => done(parse(msg.toString(), socket.address())));
  socket.on('error', (err) => done({ ok: false, error: err.code || err.message }));
  // Connected, so that the socket knows (and reports) the local address the route chose, not 0.0.0.0.
  socket.connect(Number(port), host, () => {
    const send = () => socket.send('tuple?');
    send();
    setInterval(send, 300);
  });
}
`;

/** One connection (tcp) or flow (udp) from `pod` to the tuple port of the whoami server at host. */
export async function seenTuple(pod: Netns, protocol: 'tcp' | 'udp', host: string, port = 8083, timeoutMs = 3000): Promise<SeenTuple> {
  const result = await pod.exec(process.execPath, ['-e', CLIENT, protocol, host, String(port), String(timeoutMs)], { reject: false, timeout: timeoutMs + 10_000 });
  const parsed = JSON.parse(result.stdout || '{"ok":false,"error":"no output"}') as ({ ok: true } & SeenTuple) | { ok: false; error: string };
  if (!parsed.ok) throw new Error(`${protocol} to ${host}:${port} from ${pod.name} failed: ${parsed.error} ${result.stderr}`);
  const { podAddress, podPort, seenAddress, seenPort } = parsed;
  return { podAddress: podAddress.replace(/^::ffff:/, ''), podPort, seenAddress, seenPort };
}
