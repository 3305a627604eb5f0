import { chmodSync, existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../errors.js";
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
export async function createPeerCertificate(runner: CommandRunner, name: string, directory: string, days = 3650): Promise<PeerCertificateFiles> {
  const files = { cert: join(directory, `${name}.crt`), key: join(directory, `${name}.key`) };
  for (const path of Object.values(files)) {
    if (existsSync(path)) throw new AppError("conflict", `${path} already exists; move it away first (a rotation keeps the old certificate trusted until both gateways have the new one)`);
  }
  const work = mkdtempSync(join(directory, `.${name}-`));
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
    chmodSync(key, 0o600);
    chmodSync(cert, 0o644);
    renameSync(key, files.key);
    renameSync(cert, files.cert);
    return files;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
