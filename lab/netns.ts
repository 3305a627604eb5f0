// Network-namespace helpers for integration tests and the lab.
//
// Everything created here is registered in one process-wide registry so that a failing assertion, an exception or
// Ctrl+C still leaves no namespace, veth or process behind. Nothing here ever touches a host interface: the only
// root-namespace objects we create are veth ends with names we generated, and they leave the root namespace at once.
import { spawnSync } from 'node:child_process';
import { execa, type Options, type ResultPromise } from 'execa';

let counter = 0;
const base = Math.floor(Math.random() * 36 ** 5);

/** A 5-character base36 id, distinct within this process and very unlikely to collide across processes. */
export function uniqueSuffix(): string {
  // pid spreads parallel test processes apart; the counter keeps ids distinct within one process.
  const n = (base + process.pid * 7919 + counter++ * 104_729) % 36 ** 5;
  return n.toString(36).padStart(5, '0');
}

/** Runs `ip ARGS`; every network change goes through here so errors carry the full command. */
export function ip(args: readonly string[]): ResultPromise<{ stdin: 'ignore' }> {
  return execa('ip', args, { stdin: 'ignore' });
}

type Subprocess = ResultPromise<Options>;

const namespaces = new Map<string, Netns>();
const processes = new Set<Subprocess>();
// veth ends that exist in the root namespace between creation and the move into their namespaces.
const tempLinks = new Set<string>();

export class Netns {
  readonly #processes = new Set<Subprocess>();

  constructor(readonly name: string) {}

  /** Creates the namespace with loopback up. Fails if the name already exists (a suffix collision). */
  static async create(name: string): Promise<Netns> {
    const ns = new Netns(name);
    // Registered before creation: if `ip netns add` half-succeeds, cleanup still tries to delete it.
    namespaces.set(name, ns);
    try {
      await ip(['netns', 'add', name]);
      await ip(['-n', name, 'link', 'set', 'dev', 'lo', 'up']);
    } catch (error) {
      await ns.destroy();
      throw error;
    }
    return ns;
  }

  /** Runs a command inside the namespace and waits for it. */
  exec<O extends Options = { stdin: 'ignore' }>(cmd: string, args: readonly string[] = [], opts?: O): ResultPromise<O> {
    // The cast only re-attaches the caller's option type, which drives the result's stdout/stderr types.
    const sub = execa('ip', ['netns', 'exec', this.name, cmd, ...args], { stdin: 'ignore', ...opts });
    return sub as unknown as ResultPromise<O>;
  }

  /**
   * Starts a long-running command inside the namespace. It is killed by destroy()/cleanupAll(); its promise is
   * marked handled so that killing it in teardown never surfaces as an unhandled rejection.
   * Note: the result is a thenable; do not return it from an async function (that would wait for it to exit).
   */
  spawn<O extends Options = { stdin: 'ignore' }>(
    cmd: string,
    args: readonly string[] = [],
    opts?: O,
  ): ResultPromise<O> {
    const sub = this.exec(cmd, args, opts);
    const tracked = sub as unknown as Subprocess;
    this.#processes.add(tracked);
    processes.add(tracked);
    const forget = (): void => {
      this.#processes.delete(tracked);
      processes.delete(tracked);
    };
    sub.then(forget, forget);
    return sub;
  }

  /** Sets sysctls inside the namespace (they are per-namespace for net.*). */
  async sysctl(settings: Record<string, string | number>): Promise<void> {
    const assignments = Object.entries(settings).map(([key, value]) => `${key}=${value}`);
    await this.exec('sysctl', ['-q', '-w', ...assignments]);
  }

  /** Runs `ip -n NAME ARGS`. */
  ip(args: readonly string[]): ResultPromise<{ stdin: 'ignore' }> {
    return ip(['-n', this.name, ...args]);
  }

  /** SIGKILLs every process in the namespace at once, tracked or not: what a crashed VM looks like. */
  killAll(): void {
    for (const pid of namespacePids(this.name)) killQuietly(pid, 'SIGKILL');
  }

  /** Kills every process in the namespace, tracked or not, then deletes it. Safe to call twice. */
  async destroy(): Promise<void> {
    await Promise.all([...this.#processes].map((sub) => stop(sub)));
    // Daemons under test may fork children we never saw; anything still in the namespace would keep it alive.
    for (const pid of namespacePids(this.name)) killQuietly(pid, 'SIGKILL');
    await execa('ip', ['netns', 'del', this.name], { reject: false, stdin: 'ignore' });
    namespaces.delete(this.name);
  }
}

/** One end of a veth pair: the namespace it goes to, its final name there, and optional addresses (CIDR form). */
export interface VethEnd {
  ns: Netns;
  name: string;
  addresses?: string[];
}

/**
 * Connects two namespaces with a veth pair. The pair is created with unique temporary names because the final names
 * (eth0, …) may already exist in the root namespace; each end is moved, then renamed and brought up in its namespace.
 */
export async function veth(a: VethEnd, b: VethEnd): Promise<void> {
  const id = uniqueSuffix();
  const tmpA = `egwv${id}a`;
  const tmpB = `egwv${id}b`;
  tempLinks.add(tmpA);
  try {
    // Explicit `name` keywords: a bare interface name can be misread as an ip keyword.
    await ip(['link', 'add', 'name', tmpA, 'type', 'veth', 'peer', 'name', tmpB]);
    await ip(['link', 'set', 'dev', tmpA, 'netns', a.ns.name]);
    await ip(['link', 'set', 'dev', tmpB, 'netns', b.ns.name]);
  } catch (error) {
    // Deleting either end deletes the pair; whichever is still in the root namespace is ours to remove.
    await execa('ip', ['link', 'del', 'dev', tmpA], { reject: false, stdin: 'ignore' });
    await execa('ip', ['link', 'del', 'dev', tmpB], { reject: false, stdin: 'ignore' });
    throw error;
  } finally {
    tempLinks.delete(tmpA);
  }
  await Promise.all([configureEnd(a, tmpA), configureEnd(b, tmpB)]);
}

async function configureEnd(end: VethEnd, tmpName: string): Promise<void> {
  await end.ns.ip(['link', 'set', 'dev', tmpName, 'name', end.name]);
  for (const cidr of end.addresses ?? []) {
    // nodad: IPv6 addresses are otherwise tentative for about a second and tests would race DAD.
    const extra = cidr.includes(':') ? ['nodad'] : [];
    await end.ns.ip(['addr', 'add', cidr, 'dev', end.name, ...extra]);
  }
  await end.ns.ip(['link', 'set', 'dev', end.name, 'up']);
}

const TERM_GRACE_MS = 500;

async function stop(sub: Subprocess): Promise<void> {
  if (sub.exitCode !== null || sub.signalCode !== null) return;
  const exited = sub.then(
    () => true,
    () => true,
  );
  sub.kill('SIGTERM');
  const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), TERM_GRACE_MS).unref());
  if (!(await Promise.race([exited, timer]))) {
    sub.kill('SIGKILL');
    await exited;
  }
}

function namespacePids(name: string): number[] {
  const out = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  return (out.stdout ?? '')
    .split('\n')
    .map((line) => Number.parseInt(line, 10))
    .filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== process.pid);
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Kills every tracked process (SIGTERM, then SIGKILL) and deletes every namespace this process created. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...processes].map((sub) => stop(sub)));
  await Promise.all([...namespaces.values()].map((ns) => ns.destroy()));
  for (const name of tempLinks) {
    await execa('ip', ['link', 'del', 'dev', name], { reject: false, stdin: 'ignore' });
  }
  tempLinks.clear();
}

// 'exit' handlers must be synchronous: best effort with spawnSync, for whatever an aborted run left registered.
function cleanupSync(): void {
  for (const sub of processes) if (sub.pid !== undefined) killQuietly(sub.pid, 'SIGKILL');
  for (const name of namespaces.keys()) {
    for (const pid of namespacePids(name)) killQuietly(pid, 'SIGKILL');
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  }
  for (const name of tempLinks) spawnSync('ip', ['link', 'del', 'dev', name], { stdio: 'ignore' });
  namespaces.clear();
  processes.clear();
  tempLinks.clear();
}

process.on('exit', cleanupSync);

let signalled = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second signal means the user is impatient: skip the graceful part, the exit hook still cleans up.
    if (signalled) process.exit(signal === 'SIGINT' ? 130 : 143);
    signalled = true;
    void cleanupAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}
