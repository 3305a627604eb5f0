import { resolve } from "node:path";
import { dnsLabel } from "../../config/schema.js";
import { createPeerCertificate } from "../../tls/peer-cert.js";
import { parseCommandArgs, positionals, UsageError, type CliIo } from "../../terminal/io.js";
import { printJson } from "../../terminal/output.js";
import { hostCommandsAndFiles } from "../../system/system.js";

export const PEER_CERT_USAGE = `usage:
  egw peer-cert NAME [--out DIR] [--days N]
  Creates this gateway's replication identity: DIR/NAME.key (mode 0600) and DIR/NAME.crt, a self-signed
  certificate naming NAME (the gateway.name). Point ha.tls.cert and ha.tls.key at them, and copy NAME.crt into
  the peer's ha.tls.peerCertificates file. Default DIR: /etc/egw/peer; default validity: 3650 days.
  Runs openssl; needs no daemon.`;

export const OPTIONS = { out: { type: "string" }, days: { type: "string" }, json: { type: "boolean" } } as const;

export async function peerCertCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs(args, OPTIONS, PEER_CERT_USAGE);
  const [name = ""] = positionals(pos, ["NAME"], PEER_CERT_USAGE);
  if (!dnsLabel.safeParse(name).success) throw new UsageError(`NAME must be the gateway's name (a DNS label), not ${JSON.stringify(name)}`, PEER_CERT_USAGE);
  const days = Number(values.days ?? 3650);
  if (!Number.isInteger(days) || days < 1 || days > 36_500) throw new UsageError("--days must be a whole number of days, 1-36500", PEER_CERT_USAGE);
  const directory = resolve(values.out ?? "/etc/egw/peer");
  const machine = hostCommandsAndFiles();
  machine.files.makeDirectory(directory, 0o750);
  const files = await createPeerCertificate(machine, name, directory, days);
  if (values.json) printJson(io, files);
  else io.stdout(`created ${files.key} (private, mode 0600) and ${files.cert} (give this one to the peer)\n`);
  return 0;
}
