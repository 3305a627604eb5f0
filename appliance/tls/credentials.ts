import { EventEmitter } from "node:events";
import { readFileSync, statSync, unwatchFile, watchFile } from "node:fs";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { AppError, errorMessage } from "../errors.js";

export interface CredentialFiles {
  cert: string;
  key: string;
  /** Trust anchors: for the API, the CAs of client certificates; for the peer channel, the pinned peer certificate(s) or their CA. */
  ca?: string | undefined;
}

export interface LoadedCredentials {
  options: Pick<SecureContextOptions, "cert" | "key" | "ca">;
  warnings: string[];
}

/** Reads the PEM files of one TLS identity; a private key that others may read is reported, not refused. */
export function loadCredentials(files: CredentialFiles, field: string): LoadedCredentials {
  const warnings: string[] = [];
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new AppError("config-invalid", `cannot read the ${what} ${path} (${field}): ${errorMessage(error)}`, { cause: error });
    }
  };
  const cert = read(files.cert, "certificate");
  const key = read(files.key, "private key");
  if ((statSync(files.key).mode & 0o077) !== 0) warnings.push(`private key ${files.key} (${field}.key) is readable by group or others; chmod 600 it`);
  const options: LoadedCredentials["options"] = { cert, key };
  if (files.ca !== undefined) options.ca = read(files.ca, "trusted certificates file");
  return { options, warnings };
}

/**
 * One TLS identity whose files may be replaced while the daemon runs: listeners and clients take `current`
 * and subscribe to `reloaded`, so a rotated certificate is served without a restart. Polling the modification
 * time (every few seconds) catches files replaced by rename, by an editor or by configuration management
 * alike; `reload()` (on SIGHUP) does it at once. A half-written or mismatched set keeps the previous material.
 */
export class ReloadableCredentials extends EventEmitter<{ reloaded: [credentials: LoadedCredentials]; failed: [error: unknown] }> {
  private watching = false;
  private loaded: LoadedCredentials | undefined;

  constructor(private readonly files: CredentialFiles, private readonly field: string) {
    super();
  }

  /** Reads the files for the first time; a missing or unreadable file is a configuration error. */
  load(): LoadedCredentials {
    this.loaded = loadCredentials(this.files, this.field);
    return this.loaded;
  }

  get current(): LoadedCredentials {
    return this.loaded ?? this.load();
  }

  watch(intervalMs = 5_000): void {
    if (this.watching) return;
    this.watching = true;
    for (const path of this.paths()) {
      watchFile(path, { interval: intervalMs, persistent: false }, (now, before) => {
        if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino || now.size !== before.size) this.reload();
      });
    }
  }

  reload(): void {
    let next: LoadedCredentials;
    try {
      next = loadCredentials(this.files, this.field);
      // Throws when the key does not match the certificate (a rotation caught half-way).
      createSecureContext(next.options);
    } catch (error) {
      this.emit("failed", error);
      return;
    }
    this.loaded = next;
    this.emit("reloaded", next);
  }

  stop(): void {
    if (!this.watching) return;
    this.watching = false;
    for (const path of this.paths()) unwatchFile(path);
  }

  private paths(): string[] {
    return [this.files.cert, this.files.key, ...(this.files.ca === undefined ? [] : [this.files.ca])];
  }
}
