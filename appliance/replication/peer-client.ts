import { AppError } from "../errors.js";
import type { ApplyReport } from "../reconcile/reconciler.js";
import type { HistoryPosition, RevisionChanges, Snapshot } from "./log.js";
import type { HeartbeatMessage } from "./messages.js";
import type { PeerRequest, PeerResponse, PeerTransport } from "./peer-transport.js";
import {
  incompatiblePeer, PROTOCOL_ACCEPTS_HEADER, PROTOCOL_HEADER, protocolHeaders, readProtocol, REPLICATION_PROTOCOL, sharedVersion,
  type ProtocolRange,
} from "./protocol.js";

export interface PeerState extends HistoryPosition {
  name: string;
  epoch: number;
  role: string;
  leader?: string | null;
  /** The peer's last data-plane apply (absent from peers that predate it). */
  dataplane?: ApplyReport | null;
}

export interface PushResult {
  ok: boolean;
  status: number;
  /** The refusal's code: a catalogue code, though a peer of another version may send one this one does not know. */
  code?: string;
  detail?: string;
  state?: PeerState;
}

/**
 * The request headers a forwarded write keeps: what the leader needs to read the body and shape the
 * answer (If-Match: the leader checks it inside its own write), and the request's id (the leader logs and audits
 * the write under it). Never the client's Authorization (the backup authenticated the client and sends the
 * principal instead), never hop-by-hop headers (Transfer-Encoding, Connection, Keep-Alive, …): the body is sent
 * whole, with its own Content-Length.
 */
export const FORWARDED_HEADERS = ["content-type", "accept", "if-match", "x-request-id"];

/** Carries the principal the backup authenticated; only the peer app of the replication listener reads it. */
export const FORWARDED_PRINCIPAL_HEADER = "egw-forwarded-principal";

/** This gateway as the peer channel's protocol sees it: its name and the replication protocol versions it speaks. */
export interface LocalProtocol {
  name: string;
  range: ProtocolRange;
  /** Told what the peer says it speaks, on every answer (HaMode hands it to the ProtocolGuard). */
  onPeerProtocol?: (range: ProtocolRange) => void;
}

/**
 * The calling side of the replication channel: calls to one peer's internal API over mutual TLS (the leader's
 * replication, a backup's forwarded writes and leader probes). Every call states the replication protocol
 * version it is written in (see protocol.ts): the newest both gateways speak, learned from the peer's answers.
 */
export class PeerClient {
  private peerRange: ProtocolRange | undefined;

  constructor(
    private readonly transport: PeerTransport, private readonly timeoutMs: number, private readonly maxBytes: number,
    private readonly local: LocalProtocol = { name: "this gateway", range: REPLICATION_PROTOCOL },
  ) {}

  get name(): string {
    return this.transport.peer.name;
  }

  /** The replication protocol versions the peer said it speaks in its last answer (undefined before the first). */
  get peerProtocol(): ProtocolRange | undefined {
    return this.peerRange;
  }

  async state(): Promise<PeerState> {
    const response = await this.call("GET", "/internal/v1/replication/state");
    if (response.status !== 200) throw new AppError("peer-failed", `peer ${this.name} answered ${response.status}`);
    return parseJson(response) as PeerState;
  }

  async pushChanges(body: { epoch: number; leader: string; base: HistoryPosition; revisions: RevisionChanges[] }): Promise<PushResult> {
    return this.push("/internal/v1/replication/changes", body);
  }

  async pushSnapshot(body: { epoch: number; leader: string; snapshot: Snapshot }): Promise<PushResult> {
    return this.push("/internal/v1/replication/snapshot", body);
  }

  /** The leader's heartbeat; a follower in sync answers with its state. */
  async heartbeat(body: HeartbeatMessage): Promise<PushResult> {
    return this.push("/internal/v1/replication/heartbeat", body);
  }

  /**
   * Forwards a client's write to this peer (the leader) over the replication channel, with the principal
   * this gateway authenticated (serialised; the leader checks it again before acting).
   */
  async forward(method: string, pathAndQuery: string, headers: Headers, body: ArrayBuffer | undefined, principal: unknown, timeoutMs = 30_000): Promise<Response> {
    const kept: Record<string, string> = { [FORWARDED_PRINCIPAL_HEADER]: JSON.stringify(principal) };
    for (const name of FORWARDED_HEADERS) {
      const value = headers.get(name);
      if (value !== null) kept[name] = value;
    }
    const answer = await this.exchange(method, `/internal/v1/forward${pathAndQuery}`, {
      headers: kept,
      body: body && body.byteLength > 0 ? Buffer.from(body) : undefined,
      timeoutMs,
      maxResponseBytes: this.maxBytes,
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined || ["connection", "keep-alive", "transfer-encoding", "content-length", PROTOCOL_HEADER, PROTOCOL_ACCEPTS_HEADER].includes(name)) continue;
      responseHeaders.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    return new Response(answer.status === 204 || answer.status === 304 ? null : new Uint8Array(answer.body), { status: answer.status, headers: responseHeaders });
  }

  private async push(path: string, body: unknown): Promise<PushResult> {
    const response = await this.call("POST", path, body);
    let payload: { code?: string; detail?: string; state?: PeerState; name?: string; revision?: number } = {};
    try {
      payload = parseJson(response) as typeof payload;
    } catch {
      // an answer without a JSON body still has its status
    }
    const ok = response.status >= 200 && response.status < 300;
    // A success may be the follower's state itself (heartbeats); a refusal carries it under `state`.
    const state = ok && typeof payload.name === "string" && typeof payload.revision === "number" ? payload as PeerState : payload.state;
    return {
      ok, status: response.status,
      ...(!ok && payload.code ? { code: payload.code } : {}),
      ...(!ok && typeof payload.detail === "string" ? { detail: payload.detail } : {}),
      ...(state ? { state } : {}),
    };
  }

  private call(method: string, path: string, body?: unknown): Promise<PeerResponse> {
    return this.exchange(method, path, {
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: this.timeoutMs,
      maxResponseBytes: this.maxBytes,
    });
  }

  /**
   * One call, written in the newest version both gateways speak (before the peer's first answer: this
   * gateway's newest). Every answer says what the peer speaks; a peer that speaks no version of ours is
   * `incompatible-peer`, thrown whatever it answered. A peer that refused the version (a newer gateway's first
   * call to an older one) is asked once more, in the version both speak.
   */
  private async exchange(method: string, path: string, request: PeerRequest): Promise<PeerResponse> {
    const ours = this.local.range;
    for (let attempt = 1; ; attempt++) {
      const version = this.peerRange ? sharedVersion(ours, this.peerRange) ?? ours.newest : ours.newest;
      const response = await this.transport.request(method, path, { ...request, headers: { ...request.headers, ...protocolHeaders(ours, version) } });
      const stated = readProtocol(headerOf(response, PROTOCOL_HEADER), headerOf(response, PROTOCOL_ACCEPTS_HEADER));
      this.peerRange = stated.range;
      this.local.onPeerProtocol?.(stated.range);
      const shared = sharedVersion(ours, stated.range);
      if (shared === undefined) throw incompatiblePeer({ local: this.local, peer: { name: this.name, range: stated.range } });
      if (response.status === 409 && problemCode(response) === "incompatible-peer") {
        if (shared !== version && attempt === 1) continue;
        throw new AppError("incompatible-peer", `peer ${this.name} refused replication protocol version ${version}, which it says it speaks (${stated.range.oldest}-${stated.range.newest})`);
      }
      return response;
    }
  }
}

function headerOf(response: PeerResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The `code` of a problem document, if the body is one. */
function problemCode(response: PeerResponse): string | undefined {
  try {
    const body = parseJson(response) as { code?: unknown };
    return typeof body.code === "string" ? body.code : undefined;
  } catch {
    return undefined;
  }
}

function parseJson(response: PeerResponse): unknown {
  return JSON.parse(response.body.toString("utf8"));
}
