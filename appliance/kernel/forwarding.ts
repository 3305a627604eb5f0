import type { Sysctls } from "../system/sysctls.js";
import { ensureSysctls } from "./sysctl.js";

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

  /** Called with every successful pass; only the first one sets the sysctls. */
  applyDone(): void {
    if (this.applied) return;
    this.applied = true;
    for (const warning of ensureSysctls(this.sysctls, this.options.manage, this.options.ha, this.options.outsideInterface)) this.warn(warning);
  }
}
