import { unwrap } from "../../../client/src/index.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect } from "../connection.js";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../../terminal/io.js";
import { printJson, table } from "../../terminal/output.js";

export const EGRESS_IPS_USAGE = `usage:
  egw egress-ips list
  egw egress-ips add ADDRESS [--description TEXT] [--wait]
  egw egress-ips update ADDRESS --description TEXT [--wait]
  egw egress-ips delete ADDRESS [--wait]
  Egress IPs are addresses the gateway group may translate to (admin token). --wait answers once the
  data plane has applied the change.

${CONNECTION_USAGE}`;

export const OPTIONS = { ...CONNECTION_OPTIONS, description: { type: "string" }, wait: { type: "boolean", default: false } } as const;

export interface EgressIp { address: string; family: number; description: string; cluster: string | null }

export function formatEgressIps(ips: EgressIp[]): string {
  return table(["ADDRESS", "FAMILY", "CLUSTER", "DESCRIPTION"], ips.map((ip) => [ip.address, `IPv${ip.family}`, ip.cluster ?? "-", ip.description]));
}

export async function egressIpsCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: [sub, ...pos] } = parseCommandArgs(args, OPTIONS, EGRESS_IPS_USAGE);
  const query = { wait: values.wait ? "true" as const : undefined };
  const out = (value: unknown, text: string) => (values.json ? printJson(io, value) : io.stdout(text));
  switch (sub) {
    case "list": {
      positionals(pos, [], EGRESS_IPS_USAGE);
      const { egressIps } = await unwrap(connect(values, io.env).GET("/v1/egress-ips"));
      out({ egressIps }, formatEgressIps(egressIps));
      return 0;
    }
    case "add": {
      const [address = ""] = positionals(pos, ["ADDRESS"], EGRESS_IPS_USAGE);
      const body = { address, ...(values.description !== undefined ? { description: values.description } : {}) };
      const created = await unwrap(connect(values, io.env).POST("/v1/egress-ips", { params: { query }, body }));
      out(created, `added egress IP ${created.address}\n`);
      return 0;
    }
    case "update": {
      const [address = ""] = positionals(pos, ["ADDRESS"], EGRESS_IPS_USAGE);
      if (values.description === undefined) throw new UsageError("update needs --description TEXT", EGRESS_IPS_USAGE);
      const updated = await unwrap(connect(values, io.env).PATCH("/v1/egress-ips/{address}", { params: { path: { address }, query }, body: { description: values.description } }));
      out(updated, `updated egress IP ${updated.address}\n`);
      return 0;
    }
    case "delete": {
      const [address = ""] = positionals(pos, ["ADDRESS"], EGRESS_IPS_USAGE);
      await unwrap(connect(values, io.env).DELETE("/v1/egress-ips/{address}", { params: { path: { address }, query } }));
      out({ deleted: address }, `deleted egress IP ${address}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? "missing subcommand" : `unknown subcommand ${JSON.stringify(sub)}`, EGRESS_IPS_USAGE);
  }
}
