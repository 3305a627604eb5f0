import { AppError, errorMessage } from "../errors.js";
import type { HistoryPosition, RevisionChanges, Snapshot } from "./log.js";

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

/** The leader's side of the replication channel: authenticated HTTP calls to one peer's internal API. */
export class PeerClient {
  constructor(readonly name: string, private readonly baseUrl: string, private readonly secret: string, private readonly timeoutMs: number) {}

  async state(): Promise<PeerState> {
    const response = await this.call("GET", "/internal/v1/replication/state");
    if (!response.ok) throw new AppError("internal", `peer ${this.name} answered ${response.status}`);
    return (await response.json()) as PeerState;
  }

  async pushChanges(body: { epoch: number; leader: string; base: HistoryPosition; revisions: RevisionChanges[] }): Promise<PushResult> {
    return this.push("/internal/v1/replication/changes", body);
  }

  async pushSnapshot(body: { epoch: number; leader: string; snapshot: Snapshot }): Promise<PushResult> {
    return this.push("/internal/v1/replication/snapshot", body);
  }

  /** Forwards a client's write to this peer (the leader) unchanged, auth header included. */
  async forward(method: string, pathAndQuery: string, headers: Headers, body: ArrayBuffer | undefined): Promise<Response> {
    const forwarded = new Headers(headers);
    forwarded.delete("host");
    forwarded.delete("content-length");
    return fetch(`${this.baseUrl}${pathAndQuery}`, { method, headers: forwarded, body: body && body.byteLength > 0 ? body : undefined, signal: AbortSignal.timeout(30_000) });
  }

  private async push(path: string, body: unknown): Promise<PushResult> {
    const response = await this.call("POST", path, body);
    const payload = (await response.json().catch(() => ({}))) as { code?: string; state?: PeerState };
    return { ok: response.ok, status: response.status, ...(payload.code ? { code: payload.code } : {}), ...(payload.state ? { state: payload.state } : {}) };
  }

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.secret}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new AppError("internal", `peer ${this.name} unreachable: ${errorMessage(error)}`, { cause: error });
    }
  }
}
