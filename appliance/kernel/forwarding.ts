import type { Sysctls } from "../system/sysctls.js";
import { ensureSettings, ensureSysctls, reversePathSysctls } from "./sysctl.js";

/**
 * Forwarding goes on only once the first data-plane pass has put our table in place, so the gateway never
 * forwards a moment without translation; after that it stays on (the table stays in force across restarts).
 */
export class ForwardingSwitch {
  private applied = false;

  constructor(
    private readonly sysctls: Sysctls,
    private readonly options: { manage: boolean; ha: boolean; outsideInterface?: string },
    private readonly warn: (warning: string) => void,
  ) {}

  /** Whether a pass has applied the data plane (and forwarding was set up). */
  get on(): boolean {
    return this.applied;
  }

  /**
   * Called with every successful pass; the first one sets the sysctls. Later ones re-assert the outside interface's
   * src_valid_mark, which the system may reset behind our back (systemd-sysctl re-applying /usr/lib/sysctl.d, udev
   * re-creating the link) and without which every reply to a pod would be dropped by reverse-path filtering.
   */
  applyDone(): void {
    if (!this.applied) {
      this.applied = true;
      for (const warning of ensureSysctls(this.sysctls, this.options.manage, this.options.ha, this.options.outsideInterface)) this.warn(warning);
      return;
    }
    if (this.options.manage && this.options.outsideInterface !== undefined) {
      // Warned about once, on the first pass; here only put right what changed since.
      ensureSettings(this.sysctls, true, reversePathSysctls(this.options.outsideInterface));
    }
  }
}
