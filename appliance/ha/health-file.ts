import type { SystemFiles } from "../system/files.js";

/**
 * keepalived's track_file: 0 means this gateway can do its job; anything else puts the sync group in
 * FAULT, which hands the VIPs to a peer at once (a FAULT gateway advertises priority 0). The daemon uses it
 * for its own health and for a graceful handover.
 */
export class HealthFile {
  private reasons = new Set<string>();

  constructor(private readonly files: SystemFiles, private readonly path: string) {}

  init(): void {
    this.write();
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
