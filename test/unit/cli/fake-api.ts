import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliIo } from "../../../appliance/terminal/io.js";

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface Reply {
  status: number;
  body?: unknown;
  /** Default application/json, or application/problem+json for statuses of 400 and more. */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface FakeApi {
  dir: string;
  socket: string;
  tokenFile: string;
  requests: Recorded[];
  /** The connection options every command needs to reach this fake. */
  flags: string[];
  close(): Promise<void>;
}

/**
 * A stand-in for the daemon's API on a temporary unix socket: routes are "METHOD /path?query"; anything else
 * answers 404 with a problem document, as the daemon does. Every request is recorded.
 */
export async function fakeApi(routes: Record<string, (request: Recorded) => Reply>): Promise<FakeApi> {
  const dir = mkdtempSync(join(tmpdir(), "egw-cli-test-"));
  const socket = join(dir, "api.sock");
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "admin-token-for-tests-0123456789abcdef\n", { mode: 0o600 });
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const recorded: Recorded = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: text ? JSON.parse(text) : undefined };
      requests.push(recorded);
      const route = routes[`${recorded.method} ${recorded.url}`];
      const reply: Reply = route ? route(recorded)
        : { status: 404, body: { type: "https://egw.dev/problems/not-found", title: "No such resource", status: 404, code: "not-found", detail: `no route for ${recorded.method} ${recorded.url}` } };
      const type = reply.contentType ?? (reply.status >= 400 ? "application/problem+json" : "application/json");
      res.writeHead(reply.status, { ...reply.headers, ...(reply.body === undefined ? {} : { "content-type": type }) });
      res.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    dir, socket, tokenFile, requests,
    flags: ["--socket", socket, "--token-file", tokenFile],
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Captures what a command prints; the environment is empty unless given. */
export function captureIo(env: Record<string, string | undefined> = {}): CliIo & { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    stdout: (text) => (out += text),
    stderr: (text) => (err += text),
    env,
    out: () => out,
    err: () => err,
  };
}
