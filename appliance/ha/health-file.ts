import type { SystemFiles } from "../system/files.js";

/**
 * keepalived's track_file: 0 means this gateway can do its job; anything else puts the sync group in
 * FAULT, which hands the VIPs to a peer at once (a FAULT gateway advertises priority 0). The daemon uses it
 * for its own health and for a graceful handover.
 */
export class HealthFile {
  private reasons = new Set<string>();

  constructor(private readonly files: SystemFiles, readonly path: string) {}

  init(): void {
    this.write();
  }

  /**
   * Writes the file, as the daemon last judged this gateway, unless it is there: keepalived's configuration names
   * it, and it must exist before keepalived checks or reads that configuration. keepalived 2.3 refuses (`-t`,
   * exit 5, "realpath() error … for egw_health") a track_file that does not exist, and a running one ignores it
   * ("track file … not found, ignoring"), so that the daemon could no longer fault the gateway; 2.2 accepts it.
   */
  ensure(): void {
    if (!this.files.exists(this.path)) this.write();
  }

  set(reason: string, failing: boolean): void {
    const before = this.reasons.size;
    if (failing) this.reasons.add(reason);
    else this.reasons.delete(reason);
    if ((before === 0) !== (this.reasons.size === 0)) this.write();
  }

  failing(): string[] {
    return [...this.reasons];
  }

  private write(): void {
    // Replaced whole: keepalived re-reads it whenever it changes, and must never read it half written.
    this.files.writeFile(this.path, this.reasons.size === 0 ? "0\n" : "1\n", 0o644);
  }
}
