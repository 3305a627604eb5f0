import { closeSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { constants } from "node:os";
import { AppError } from "../errors.js";

/**
 * One message of an nf_tables transaction: its NFT_MSG_* type, the NLM_F_* flags beyond REQUEST and ACK (e.g.
 * CREATE), the nfgenmsg family, the attributes as bytes, and what it does in words (for the error that names it).
 */
export interface NftMessage {
  type: number;
  flags: number;
  family: number;
  body: Buffer;
  label: string;
}

/**
 * nf_tables transactions over a NETLINK_NETFILTER socket, without nft: nft 1.0/1.1 fetches every element of every
 * set before it changes one (0.7 s with 100k elements present), the kernel does not need that.
 */
export interface NetfilterTransactions {
  /**
   * Sends `messages` as one nfnetlink batch (one kernel transaction: all or nothing) and waits until the kernel has
   * answered every one of them. Resolves when every message was acknowledged without error: the transaction is
   * committed. Throws a NetlinkRefusal when the kernel refused one (it then aborted the whole batch), and an
   * AppError when the outcome is unknown (answers missing).
   */
  commit(messages: readonly NftMessage[]): void;
  close(): void;
}

/** The kernel refused a batch: nothing of it was applied. `index` is the refused message's place in the batch. */
export class NetlinkRefusal extends AppError {
  constructor(readonly errno: number, readonly index: number, readonly label: string) {
    super("apply-failed", `the kernel refused the nf_tables batch at message ${index + 1} (${label}): ${errnoName(errno)}; nothing of the batch was applied`);
  }
}

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
/** Errors carry only the refused message's header, not its whole body back. */
const NETLINK_CAP_ACK = 10;
const MSG_DONTWAIT = 0x40;
const CLONE_NEWNET = 0x40000000;

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLMSG_ERROR = 2;
const NFNL_MSG_BATCH_BEGIN = 16;
const NFNL_MSG_BATCH_END = 17;
const NFNL_SUBSYS_NFTABLES = 10;
const HEADER = 20; // nlmsghdr (16) + nfgenmsg (4)
/** Enough for the largest batch the converger sends incrementally (2,000 elements, ≈ 200 kB) with room to spare. */
const BUFFER_BYTES = 4 << 20;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  setsockopt: (fd: number, level: number, name: number, value: Buffer, length: number) => number;
  sendto: (fd: number, buffer: Buffer, length: number, flags: number, address: Buffer, addressLength: number) => number;
  recv: (fd: number, buffer: Buffer, length: number, flags: number) => number;
  close: (fd: number) => number;
  setns: (fd: number, type: number) => number;
  errno: () => number;
}

let libc: Libc | undefined;

/** libc through koffi (an N-API FFI with prebuilt binaries), loaded on first use only. */
function loadLibc(): Libc {
  if (libc) return libc;
  const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
  const lib = koffi.load("libc.so.6");
  libc = {
    socket: lib.func("int socket(int, int, int)") as Libc["socket"],
    setsockopt: lib.func("int setsockopt(int, int, int, const uint8_t *value, uint32_t)") as Libc["setsockopt"],
    sendto: lib.func("long sendto(int, const uint8_t *buf, size_t, int, const uint8_t *addr, uint32_t)") as Libc["sendto"],
    recv: lib.func("long recv(int, _Out_ uint8_t *buf, size_t, int)") as Libc["recv"],
    close: lib.func("int close(int)") as Libc["close"],
    setns: lib.func("int setns(int, int)") as Libc["setns"],
    errno: () => koffi.errno(),
  };
  return libc;
}

/**
 * A NETLINK_NETFILTER socket in this process's network namespace, or in the named one (`ip netns` name: tests,
 * whose process stays in the host's namespace). A socket belongs to the namespace it was created in for good, so
 * this thread visits the named one only for the socket() call.
 */
export function openNetfilterSocket(options: { namespace?: string } = {}): NetfilterTransactions {
  const c = loadLibc();
  const fd = options.namespace === undefined ? c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER) : socketIn(c, options.namespace);
  if (fd < 0) throw systemError("socket(NETLINK_NETFILTER)", c.errno());
  const int = (value: number) => { const b = Buffer.alloc(4); b.writeInt32LE(value); return b; };
  // Without CAP_NET_ADMIN the FORCE variants fail; nf_tables needs that capability anyway, so the defaults will do then.
  c.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, int(BUFFER_BYTES), 4);
  c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int(BUFFER_BYTES), 4);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, int(1), 4);
  return new NetfilterSocket(c, fd);
}

function socketIn(c: Libc, namespace: string): number {
  const home = openSync("/proc/thread-self/ns/net", "r");
  const target = openSync(`/run/netns/${namespace}`, "r");
  try {
    if (c.setns(target, CLONE_NEWNET) !== 0) throw systemError(`setns(${namespace})`, c.errno());
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    const socketErrno = c.errno();
    if (c.setns(home, CLONE_NEWNET) !== 0) throw systemError("setns(back to the process's namespace)", c.errno());
    if (fd < 0) throw systemError("socket(NETLINK_NETFILTER)", socketErrno);
    return fd;
  } finally {
    closeSync(target);
    closeSync(home);
  }
}

class NetfilterSocket implements NetfilterTransactions {
  private sequence = (Date.now() & 0x7fffffff) >>> 0;
  private readonly kernel = Buffer.alloc(12); // sockaddr_nl of the kernel: family, pad, pid 0, groups 0
  private readonly receive = Buffer.alloc(1 << 16);
  private open = true;

  constructor(private readonly c: Libc, private readonly fd: number) {
    this.kernel.writeUInt16LE(AF_NETLINK, 0);
  }

  commit(messages: readonly NftMessage[]): void {
    if (!this.open) throw new AppError("apply-failed", "the netfilter socket is closed");
    this.drain();
    const first = this.next(messages.length + 2);
    const seqs = messages.map((_, i) => (first + 1 + i) >>> 0);
    const parts = [
      header(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, first, 0, NFNL_SUBSYS_NFTABLES, 0),
      ...messages.flatMap((m, i) => [header((NFNL_SUBSYS_NFTABLES << 8) | m.type, NLM_F_REQUEST | NLM_F_ACK | m.flags, seqs[i] as number, m.family, 0, m.body.length), m.body]),
      header(NFNL_MSG_BATCH_END, NLM_F_REQUEST, (first + 1 + messages.length) >>> 0, 0, NFNL_SUBSYS_NFTABLES, 0),
    ];
    const batch = Buffer.concat(parts);
    if (this.c.sendto(this.fd, batch, batch.length, 0, this.kernel, this.kernel.length) < 0) throw systemError("sendto(nf_tables batch)", this.c.errno());
    // The kernel handles a batch inside sendto(): every answer is queued by the time it returns.
    const answers = new Map<number, number>();
    for (const { seq, error } of this.answers()) answers.set(seq, error);
    // A failed commit (after every message was accepted) is answered on the batch's first message.
    const commitError = answers.get(first);
    if (commitError !== undefined && commitError !== 0) throw new NetlinkRefusal(-commitError, -1, "commit");
    const refused = seqs.findIndex((seq) => (answers.get(seq) ?? 0) !== 0);
    if (refused >= 0) throw new NetlinkRefusal(-(answers.get(seqs[refused] as number) as number), refused, (messages[refused] as NftMessage).label);
    const unanswered = seqs.filter((seq) => !answers.has(seq)).length;
    if (unanswered > 0) throw new AppError("apply-failed", `the kernel answered ${seqs.length - unanswered} of ${seqs.length} messages of an nf_tables batch; its outcome is unknown`);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.c.close(this.fd);
  }

  private next(count: number): number {
    const first = this.sequence;
    this.sequence = (this.sequence + count) >>> 0;
    return first;
  }

  /** The answers (NLMSG_ERROR: 0 for an acknowledgement, else -errno) waiting on the socket. */
  private *answers(): Generator<{ seq: number; error: number }> {
    for (;;) {
      const n = this.c.recv(this.fd, this.receive, this.receive.length, MSG_DONTWAIT);
      if (n < 0) {
        const errno = this.c.errno();
        if (errno === constants.errno.EAGAIN) return;
        throw systemError("recv(nf_tables answers)", errno);
      }
      for (let at = 0; at + 16 <= n;) {
        const length = this.receive.readUInt32LE(at);
        if (length < 16) break;
        if (this.receive.readUInt16LE(at + 4) === NLMSG_ERROR) yield { seq: this.receive.readUInt32LE(at + 8), error: this.receive.readInt32LE(at + 16) };
        at += (length + 3) & ~3;
      }
    }
  }

  /** Answers left over from an earlier batch (none, normally) must not be read as this one's. */
  private drain(): void {
    for (const answer of this.answers()) void answer;
  }
}

function header(type: number, flags: number, seq: number, family: number, resId: number, bodyLength: number): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(HEADER + bodyLength, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  h.writeUInt32LE(0, 12);
  h.writeUInt8(family, 16);
  h.writeUInt8(0, 17); // NFNETLINK_V0
  h.writeUInt16BE(resId, 18);
  return h;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));

export function errnoName(errno: number): string {
  return `${ERRNO_NAMES.get(errno) ?? "errno"} (${errno})`;
}

function systemError(call: string, errno: number): AppError {
  return new AppError("command-failed", `${call} failed: ${errnoName(errno)}`);
}
