import type { Logger } from "pino";
import { ReloadableCredentials, type CredentialFiles } from "./credentials.js";

/**
 * The TLS identities of one daemon, each watched for changes and reloaded together on SIGHUP; what happens to
 * them is logged (a renewal, a refused half-renewed pair, a loosely protected key).
 */
export class WatchedCredentials {
  private readonly all: ReloadableCredentials[] = [];

  constructor(private readonly log: Logger) {}

  /** Loads `files` (a missing file is a configuration error) and watches them. */
  open(files: CredentialFiles, field: string): ReloadableCredentials {
    const credentials = new ReloadableCredentials(files, field);
    credentials.load();
    return this.watch(credentials, field);
  }

  /** Watches credentials someone else opened (the HA module's peer identity). */
  watch(credentials: ReloadableCredentials, field: string): ReloadableCredentials {
    for (const warning of credentials.current.warnings) this.log.warn(warning);
    credentials.on("reloaded", (next) => {
      for (const warning of next.warnings) this.log.warn(warning);
      this.log.info({ field }, "TLS certificates reloaded");
    });
    credentials.on("failed", (error) => this.log.error({ err: error, field }, "TLS certificates not reloaded; the previous ones stay in use"));
    credentials.watch();
    this.all.push(credentials);
    return credentials;
  }

  reload(): void {
    for (const credentials of this.all) credentials.reload();
  }

  stop(): void {
    for (const credentials of this.all) credentials.stop();
    this.all.length = 0;
  }
}
