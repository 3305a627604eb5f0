import type { CommandRunner } from "../system/runner.js";

export interface FailClosedOptions {
  insideInterface: string;
  /** The single bit our table sets on every packet from the inside. */
  mark: number;
  /** Policy-rule preference; above 0 (`local`, so traffic to the gateway itself is unaffected), below main. */
  priority: number;
}

export interface PolicyRule {
  family: 4 | 6;
  /** The fwmark mask of the rule (the value is always 0: "our bit is not set"). */
  mask: number;
}

const FAMILIES = [4, 6] as const;

/**
 * The guard outside our nft table: `ip rule add pref N iif INSIDE fwmark 0/BIT blackhole`, for IPv4 and
 * IPv6. Forwarded packets from the inside carry BIT only while our table marks them, so if the table is
 * flushed or deleted, pods are cut off rather than leaving with their own addresses until the repair.
 *
 * A rule is ours when it has our preference, our inside interface, a zero fwmark value and the blackhole
 * action: rules that differ in any of these are never touched, whoever put them there. An own rule with
 * another mask (the bit was reconfigured) is replaced.
 */
export class FailClosedRules {
  constructor(private readonly runner: CommandRunner, readonly options: FailClosedOptions) {}

  async list(): Promise<PolicyRule[]> {
    const rules: PolicyRule[] = [];
    for (const family of FAMILIES) {
      const result = await this.runner.run("ip", ["-j", `-${family}`, "rule", "show"]);
      const rows = JSON.parse(result.stdout || "[]") as { priority?: number; iif?: string; fwmark?: string; fwmask?: string; action?: string }[];
      for (const row of rows) {
        if (row.priority !== this.options.priority || row.iif !== this.options.insideInterface || row.action !== "blackhole") continue;
        if (row.fwmark === undefined || Number(row.fwmark) !== 0) continue;
        rules.push({ family, mask: Number(row.fwmask ?? "0xffffffff") });
      }
    }
    return rules;
  }

  /** True when `rules` are exactly the wanted ones. */
  matches(rules: readonly PolicyRule[]): boolean {
    return FAMILIES.every((family) => {
      const own = rules.filter((r) => r.family === family);
      return own.length === 1 && own[0]?.mask === this.options.mark;
    });
  }

  /** Installs what is missing and removes own rules with another mask. Idempotent; returns how many changes. */
  async converge(actual?: readonly PolicyRule[]): Promise<number> {
    const present = actual ?? (await this.list());
    let changes = 0;
    for (const family of FAMILIES) {
      const own = present.filter((r) => r.family === family);
      const current = own.filter((r) => r.mask === this.options.mark);
      // Add before removing: a mask change never leaves a moment without the guard.
      if (current.length === 0) {
        await this.runner.run("ip", [`-${family}`, "rule", "add", ...this.selector(this.options.mark)]);
        changes++;
      }
      for (const rule of [...own.filter((r) => r.mask !== this.options.mark), ...current.slice(1)]) {
        await this.runner.run("ip", [`-${family}`, "rule", "del", ...this.selector(rule.mask)], { okExitCodes: [2] });
        changes++;
      }
    }
    return changes;
  }

  private selector(mask: number): string[] {
    return ["pref", String(this.options.priority), "iif", this.options.insideInterface, "fwmark", `0/0x${mask.toString(16)}`, "blackhole"];
  }
}
