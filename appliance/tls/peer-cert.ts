import { join } from "node:path";
import { AppError } from "../errors.js";
import type { SystemFiles } from "../system/files.js";
import type { CommandRunner } from "../system/runner.js";

export interface PeerCertificateFiles {
  cert: string;
  key: string;
}

/**
 * A gateway's replication identity: an EC P-256 key and a self-signed certificate naming the gateway (CN and
 * DNS subjectAltName), usable as client and server, and not a CA (it can vouch for nothing but itself). The peer
 * pins it by listing it in ha.tls.peerCertificates.
 * openssl does the cryptography (Debian ships it with ca-certificates); the key never leaves this directory
 * and is written mode 0600 before it is moved into place, so no other user can ever read it.
 */
export async function createPeerCertificate(system: { runner: CommandRunner; files: SystemFiles }, name: string, directory: string, days = 3650): Promise<PeerCertificateFiles> {
  const { runner, files: fs } = system;
  const files = { cert: join(directory, `${name}.crt`), key: join(directory, `${name}.key`) };
  for (const path of Object.values(files)) {
    if (fs.exists(path)) throw new AppError("conflict", `${path} already exists; move it away first (a rotation keeps the old certificate trusted until both gateways have the new one)`);
  }
  // The work directory is private (0700): openssl's files are not readable by anyone else even before the chmod.
  const work = fs.makeTempDirectory(directory, `.${name}-`);
  try {
    const key = join(work, "key.pem");
    const cert = join(work, "cert.pem");
    await runner.run("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", key, "-out", cert, "-days", String(days), "-subj", `/CN=${name}`,
      "-addext", `subjectAltName=DNS:${name}`,
      "-addext", "basicConstraints=critical,CA:FALSE",
      "-addext", "keyUsage=critical,digitalSignature",
      "-addext", "extendedKeyUsage=serverAuth,clientAuth",
    ]);
    fs.setMode(key, 0o600);
    fs.setMode(cert, 0o644);
    fs.move(key, files.key);
    fs.move(cert, files.cert);
    return files;
  } finally {
    fs.removeTree(work);
  }
}
