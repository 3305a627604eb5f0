// Client side of the whoami server: asks, from inside a pod namespace, which source address the server saw.
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Netns } from './netns.js';

export type WhoamiResult = { ok: true; seenAs: string } | { ok: false; error: string };

/** Compiled path of the server script, to run with `node` inside a namespace. */
export const WHOAMI_SERVER_SCRIPT = fileURLToPath(new URL('./whoami-server.js', import.meta.url));

// Runs as `node -e` inside the pod so the connection really originates there. It always exits 0 and prints one JSON
// result: failures are data for the test, not exceptions. Its own timer turns a silently dropped SYN into a result
// well before the kernel would give up (about two minutes).
const CLIENT = `
const net = require('node:net');
const [host, port, timeoutMs] = process.argv.slice(1);
let data = '';
const done = (result) => { process.stdout.write(JSON.stringify(result)); process.exit(0); };
const socket = net.connect({ host, port: Number(port) });
socket.setEncoding('utf8');
socket.on('data', (chunk) => { data += chunk; });
socket.on('end', () => done(data ? { ok: true, seenAs: data.trim() } : { ok: false, error: 'ENODATA' }));
socket.on('error', (err) => done({ ok: false, error: err.code || err.message }));
setTimeout(() => done({ ok: false, error: 'ETIMEDOUT' }), Number(timeoutMs));
`;

/** Connects from `pod` to host:port and returns the address the whoami server reported, or why it could not. */
export async function whoami(pod: Netns, host: string, port = 8080, timeoutMs = 2000): Promise<WhoamiResult> {
  // The outer timeout only guards against a hung node start-up; the client's own timer normally fires first.
  const result = await pod.exec(process.execPath, ['-e', CLIENT, host, String(port), String(timeoutMs)], {
    reject: false,
    timeout: timeoutMs + 10_000,
  });
  try {
    return JSON.parse(result.stdout) as WhoamiResult;
  } catch {
    return { ok: false, error: `client failed: ${result.stderr || result.shortMessage || 'no output'}` };
  }
}

/** Resolves once the server printed "ready"; rejects if it exits first or takes longer than `timeoutMs`. */
export function waitForServerReady(
  subprocess: { readonly stdout: Readable | null } & PromiseLike<unknown>,
  timeoutMs = 10_000,
): Promise<void> {
  const { stdout } = subprocess;
  if (!stdout) return Promise.reject(new Error('waitForServerReady: subprocess stdout is not piped'));
  return new Promise((resolve, reject) => {
    let seen = '';
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      stdout.off('data', onData);
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer | string): void => {
      seen += chunk.toString();
      if (seen.split('\n').includes('ready')) finish();
    };
    const timer = setTimeout(() => finish(new Error(`server not ready after ${timeoutMs} ms`)), timeoutMs);
    stdout.on('data', onData);
    subprocess.then(
      () => finish(new Error('server exited before it was ready')),
      (error: unknown) => finish(new Error('server failed before it was ready', { cause: error })),
    );
  });
}

export interface WhoamiServerOptions {
  port?: number;
  /** Also start the echo listener (on streamPort, default 8081). */
  stream?: boolean;
  streamPort?: number;
  /** The address-and-port answerer's port (default 8083): a second server in one namespace needs another. */
  tuplePort?: number;
}

export interface WhoamiServer {
  /** The running server; killed by the namespace's teardown if stop() is never called. */
  subprocess: ReturnType<Netns['spawn']>;
  stop(): Promise<void>;
}

/** Starts the whoami server inside `ns` (tracked for teardown) and waits until it listens. */
export async function startWhoamiServer(ns: Netns, options: WhoamiServerOptions = {}): Promise<WhoamiServer> {
  const args = [WHOAMI_SERVER_SCRIPT, '--port', String(options.port ?? 8080)];
  if (options.stream) args.push('--stream', '--stream-port', String(options.streamPort ?? 8081));
  if (options.tuplePort !== undefined) args.push('--tuple-port', String(options.tuplePort));
  const subprocess = ns.spawn(process.execPath, args);
  const stop = async (): Promise<void> => {
    subprocess.kill('SIGTERM');
    await subprocess.then(
      () => undefined,
      () => undefined,
    );
  };
  try {
    await waitForServerReady(subprocess);
  } catch (error) {
    subprocess.kill('SIGKILL');
    throw error;
  }
  // Wrapped in an object: an execa subprocess is a thenable, and returning it from an async function would wait
  // for the server to exit.
  return { subprocess, stop };
}
