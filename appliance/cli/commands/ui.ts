import { once } from "node:events";
import { startStatusPageProxy } from "../../http/status-page-proxy.js";
import { resolveConnection } from "../connection.js";
import { parseCommandArgs, UsageError, type CliIo } from "../../terminal/io.js";

export const UI_USAGE = `usage: egw ui [--listen HOST:PORT] [--socket PATH] [--config FILE]
  Serves the status page of this gateway on a loopback address, for a daemon whose API listens only on its unix
  socket (a browser cannot open one). Only the page's reads pass (GET and HEAD of /ui/, /v1/…, /metrics, /readyz):
  nothing can be changed through it, and the page still asks for the admin token. From a workstation:
    ssh -L 8081:127.0.0.1:8081 GATEWAY   then open http://127.0.0.1:8081/ui/
  Runs until interrupted (Ctrl-C, SIGTERM).
  --listen HOST:PORT  a loopback address only (default 127.0.0.1:8081; port 0: any free port)
  --socket PATH       the API's unix socket (default: $EGW_SOCKET, else the unix: listener in --config,
                      else /run/egw/api.sock)
  --config FILE       the daemon's config (default: /etc/egw/egw.yaml)`;

export const UI_OPTIONS = {
  listen: { type: "string", default: "127.0.0.1:8081" },
  socket: { type: "string" },
  config: { type: "string" },
} as const;

export async function uiCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(args, UI_OPTIONS, UI_USAGE);
  // Only the socket: the page signs in with its own token, so an unreadable token file must not stop the proxy.
  const { endpoint } = resolveConnection({ socket: values.socket, config: values.config }, { ...io.env, EGW_URL: undefined, EGW_TOKEN: undefined, EGW_TOKEN_FILE: undefined });
  if (!("socket" in endpoint)) throw new UsageError("egw ui proxies the local unix socket; open the page on a TCP listener directly", UI_USAGE);
  let proxy;
  try {
    proxy = await startStatusPageProxy({ listen: values.listen, socket: endpoint.socket });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), UI_USAGE);
  }
  io.stdout(`status page: http://${proxy.address}/ui/ (proxying ${endpoint.socket}; Ctrl-C stops)\n`);
  await Promise.race([once(process, "SIGINT"), once(process, "SIGTERM")]);
  await proxy.close();
  return 0;
}
