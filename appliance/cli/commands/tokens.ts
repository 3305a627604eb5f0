import { unwrap } from "../../../client/src/index.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect } from "../connection.js";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../../terminal/io.js";
import { printJson, table } from "../../terminal/output.js";

export const TOKENS_USAGE = `usage:
  egw tokens list CLUSTER
  egw tokens issue CLUSTER [--description TEXT]
  egw tokens revoke CLUSTER ID
  Cluster tokens authenticate a cluster's automation (admin token needed). An issued token's secret is
  shown once; only its hash is stored. Revocation takes effect on the next request.

${CONNECTION_USAGE}`;

export const OPTIONS = { ...CONNECTION_OPTIONS, description: { type: "string" } } as const;

export interface TokenInfo { id: string; cluster: string; description: string; createdAt: string; revokedAt: string | null }

export function formatTokens(tokens: TokenInfo[]): string {
  return table(["ID", "CREATED", "REVOKED", "DESCRIPTION"], tokens.map((t) => [t.id, t.createdAt, t.revokedAt ?? "-", t.description]));
}

export async function tokensCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: [sub, ...pos] } = parseCommandArgs(args, OPTIONS, TOKENS_USAGE);
  const out = (value: unknown, text: string) => (values.json ? printJson(io, value) : io.stdout(text));
  switch (sub) {
    case "list": {
      const [cluster = ""] = positionals(pos, ["CLUSTER"], TOKENS_USAGE);
      const { tokens } = await unwrap(connect(values, io.env).GET("/v1/clusters/{name}/tokens", { params: { path: { name: cluster } } }));
      out({ tokens }, formatTokens(tokens));
      return 0;
    }
    case "issue": {
      const [cluster = ""] = positionals(pos, ["CLUSTER"], TOKENS_USAGE);
      const body = values.description !== undefined ? { description: values.description } : {};
      const issued = await unwrap(connect(values, io.env).POST("/v1/clusters/{name}/tokens", { params: { path: { name: cluster } }, body }));
      out(issued, `issued token ${issued.id} for cluster ${issued.cluster}; the secret is shown only now:\n${issued.token}\n`);
      return 0;
    }
    case "revoke": {
      const [cluster = "", id = ""] = positionals(pos, ["CLUSTER", "ID"], TOKENS_USAGE);
      const revoked = await unwrap(connect(values, io.env).DELETE("/v1/clusters/{name}/tokens/{id}", { params: { path: { name: cluster, id } } }));
      out(revoked, `revoked token ${revoked.id} of cluster ${revoked.cluster} at ${revoked.revokedAt ?? "?"}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? "missing subcommand" : `unknown subcommand ${JSON.stringify(sub)}`, TOKENS_USAGE);
  }
}
