import { AppError } from "../errors.js";
import type { HistoryPosition, RevisionChanges, Snapshot } from "./log.js";
import type { PeerResponse, PeerTransport } from "./peer-transport.js";

export interface PeerState extends HistoryPosition {
  name: string;
  epoch: number;
  role: string;
}

export interface PushResult {
  ok: boolean;
  status: number;
  code?: string;
  state?: PeerState;
}

/** Request headers a forwarded write keeps; hop-by-hop headers (Transfer-Encoding, Connection, …) never travel. */
const FORWARDED_HEADERS = ["authorization", "content-type", "accept"];

/** The leader's side of the replication channel: calls to one peer's internal API over mutual TLS. */
export class PeerClient {
  constructor(private readonly transport: PeerTransport, private readonly timeoutMs: number, private readonly maxBytes: number) {}

  get name(): string {
    return this.transport.peer.name;
  }

  async state(): Promise<PeerState> {
    const response = await this.call("GET", "/internal/v1/replication/state");
    if (response.status !== 200) throw new AppError("internal", `peer ${this.name} answered ${response.status}`);
    return parseJson(response) as PeerState;
  }

  async pushChanges(body: { epoch: number; leader: string; base: HistoryPosition; revisions: RevisionChanges[] }): Promise<PushResult> {
    return this.push("/internal/v1/replication/changes", body);
  }

  async pushSnapshot(body: { epoch: number; leader: string; snapshot: Snapshot }): Promise<PushResult> {
    return this.push("/internal/v1/replication/snapshot", body);
  }

  /** Forwards a client's write to this peer (the leader) over the replication channel. */
  async forward(method: string, pathAndQuery: string, headers: Headers, body: ArrayBuffer | undefined): Promise<Response> {
    const kept: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = headers.get(name);
      if (value !== null) kept[name] = value;
    }
    const answer = await this.transport.request(method, `/internal/v1/forward${pathAndQuery}`, {
      headers: kept,
      body: body && body.byteLength > 0 ? Buffer.from(body) : undefined,
      timeoutMs: 30_000,
      maxResponseBytes: this.maxBytes,
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined || ["connection", "keep-alive", "transfer-encoding", "content-length"].includes(name)) continue;
      responseHeaders.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    return new Response(answer.status === 204 || answer.status === 304 ? null : new Uint8Array(answer.body), { status: answer.status, headers: responseHeaders });
  }

  private async push(path: string, body: unknown): Promise<PushResult> {
    const response = await this.call("POST", path, body);
    let payload: { code?: string; state?: PeerState } = {};
    try {
      payload = parseJson(response) as typeof payload;
    } catch {
      // an answer without a JSON body still has its status
    }
    const ok = response.status >= 200 && response.status < 300;
    return { ok, status: response.status, ...(payload.code ? { code: payload.code } : {}), ...(payload.state ? { state: payload.state } : {}) };
  }

  private call(method: string, path: string, body?: unknown): Promise<PeerResponse> {
    return this.transport.request(method, path, {
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: this.timeoutMs,
      maxResponseBytes: this.maxBytes,
    });
  }
}

function parseJson(response: PeerResponse): unknown {
  return JSON.parse(response.body.toString("utf8"));
}
