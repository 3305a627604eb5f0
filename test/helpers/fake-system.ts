import { readFileSync } from "node:fs";
import type { CommandResult, CommandRunner, RunOptions } from "../../appliance/system/runner.js";
import { CommandError } from "../../appliance/system/runner.js";

type Json = Record<string, unknown>;

export interface RecordedCall {
  command: string;
  args: string[];
  /** The nft batch, when the call passed one with -f. */
  batch?: { nftables: Json[] };
}

/**
 * A stand-in for the kernel, for unit tests only: it keeps the nft table, routes and addresses that the
 * commands it receives would have produced, and records every call. Integration tests use the real kernel.
 */
export class FakeSystem implements CommandRunner {
  calls: RecordedCall[] = [];
  sets = new Map<string, { kind: "set" | "map"; flags?: string[]; elem: Map<string, unknown> }>();
  counters = new Set<string>();
  rules: { chain: string; comment: string }[] = [];
  chains: string[] = [];
  tableExists = false;
  routes = new Map<string, { dst: string; gateway: string; protocol: string }>();
  addresses: { ifname: string; local: string; prefixlen: number }[] = [{ ifname: "outside", local: "203.0.113.1", prefixlen: 24 }];
  /** Makes the next nft apply (not check) fail, as a kernel refusal would. */
  failNextApply: string | undefined;

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const call: RecordedCall = { command, args: [...args] };
    const fileIndex = args.indexOf("-f");
    if (command === "nft" && fileIndex >= 0) call.batch = JSON.parse(readFileSync(args[fileIndex + 1] as string, "utf8")) as { nftables: Json[] };
    this.calls.push(call);
    const result = this.handle(call);
    if (result.exitCode !== 0 && !(options.okExitCodes ?? []).includes(result.exitCode)) {
      throw new CommandError(command, args, result.exitCode, result.stderr);
    }
    return result;
  }

  callsOf(command: string, first?: string): RecordedCall[] {
    return this.calls.filter((c) => c.command === command && (first === undefined || c.args.includes(first)));
  }

  private handle(call: RecordedCall): CommandResult {
    const ok = (stdout = ""): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
    if (call.command === "nft") {
      if (call.batch) {
        if (call.args.includes("-c")) return ok();
        if (this.failNextApply !== undefined) {
          const reason = this.failNextApply;
          this.failNextApply = undefined;
          return { stdout: "", stderr: reason, exitCode: 1 };
        }
        this.applyBatch(call.batch.nftables);
        // --echo: like the kernel, report back every command that was carried out.
        return ok(call.args.includes("-e") ? JSON.stringify(call.batch) : "");
      }
      if (call.args.includes("list")) {
        if (!this.tableExists) return { stdout: "", stderr: "Error: No such file or directory", exitCode: 1 };
        return ok(JSON.stringify(this.listing()));
      }
    }
    if (call.command === "ip") return this.handleIp(call.args);
    return { stdout: "", stderr: `fake: unknown command ${call.command}`, exitCode: 127 };
  }

  private applyBatch(commands: Json[]): void {
    for (const command of commands) {
      const [verb, body] = Object.entries(command)[0] as [string, Json];
      const [kind, object] = Object.entries(body)[0] as [string, Json];
      if (verb === "metainfo") continue;
      if (kind === "table") {
        if (verb === "delete") this.reset();
        else this.tableExists = true;
      } else if (kind === "set" || kind === "map") {
        const elem = new Map<string, unknown>();
        for (const e of (object["elem"] as unknown[] | undefined) ?? []) elem.set(JSON.stringify(Array.isArray(e) ? e[0] : e), e);
        this.sets.set(object["name"] as string, { kind, ...(object["flags"] ? { flags: object["flags"] as string[] } : {}), elem });
      } else if (kind === "element") {
        const set = this.sets.get(object["name"] as string);
        if (!set) throw new Error(`fake nft: no set ${String(object["name"])}`);
        for (const e of object["elem"] as unknown[]) {
          const key = JSON.stringify(Array.isArray(e) ? e[0] : e);
          if (verb === "add") set.elem.set(key, e);
          else set.elem.delete(key);
        }
      } else if (kind === "counter") {
        if (verb === "add") this.counters.add(object["name"] as string);
        else this.counters.delete(object["name"] as string);
      } else if (kind === "chain") {
        this.chains.push(object["name"] as string);
      } else if (kind === "rule") {
        this.rules.push({ chain: object["chain"] as string, comment: object["comment"] as string });
      }
    }
  }

  reset(): void {
    this.tableExists = false;
    this.sets.clear();
    this.counters.clear();
    this.rules = [];
    this.chains = [];
  }

  /** What `nft -j list table` would print, in the same shapes the real nft uses. */
  listing(): { nftables: Json[] } {
    return {
      nftables: [
        { metainfo: { json_schema_version: 1 } },
        { table: { family: "inet", name: "egress_gateway" } },
        ...[...this.counters].map((name) => ({ counter: { name, packets: 0, bytes: 0 } })),
        ...[...this.sets].map(([name, set]) => ({ [set.kind]: { name, ...(set.flags ? { flags: set.flags } : {}), elem: [...set.elem.values()] } })),
        ...this.chains.map((name) => ({ chain: { name } })),
        ...this.rules.map((rule) => ({ rule })),
      ],
    };
  }

  private handleIp(args: string[]): CommandResult {
    const ok = (stdout = ""): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
    if (args[0] === "-j" && args[2] === "route" && args[3] === "show") {
      const v6 = args[1] === "-6";
      const protocol = args[5] as string;
      return ok(JSON.stringify([...this.routes.values()]
        .filter((r) => r.protocol === protocol && r.dst.includes(":") === v6)
        .map((r) => ({ dst: r.dst, gateway: r.gateway, dev: "inside", flags: [] }))));
    }
    if (args[0] === "route" && args[1] === "replace") {
      this.routes.set(args[2] as string, { dst: args[2] as string, gateway: args[4] as string, protocol: args[args.indexOf("proto") + 1] as string });
      return ok();
    }
    if (args[0] === "route" && args[1] === "del") {
      return this.routes.delete(args[2] as string) ? ok() : { stdout: "", stderr: "RTNETLINK answers: No such process", exitCode: 2 };
    }
    if (args[0] === "-j" && args[1] === "address" && args[2] === "show") {
      const byInterface = new Map<string, { local: string; prefixlen: number }[]>();
      for (const a of this.addresses) byInterface.set(a.ifname, [...(byInterface.get(a.ifname) ?? []), { local: a.local, prefixlen: a.prefixlen }]);
      return ok(JSON.stringify([...byInterface].map(([ifname, addr_info]) => ({ ifname, addr_info }))));
    }
    if (args[0] === "address" && (args[1] === "add" || args[1] === "del")) {
      const [local, length] = (args[2] as string).split("/");
      const ifname = args[args.indexOf("dev") + 1] as string;
      const index = this.addresses.findIndex((a) => a.local === local && a.ifname === ifname);
      if (args[1] === "add") {
        if (index >= 0) return { stdout: "", stderr: "RTNETLINK answers: File exists", exitCode: 2 };
        this.addresses.push({ ifname, local: local as string, prefixlen: Number(length) });
      } else {
        if (index < 0) return { stdout: "", stderr: "RTNETLINK answers: Cannot assign requested address", exitCode: 2 };
        this.addresses.splice(index, 1);
      }
      return ok();
    }
    return { stdout: "", stderr: `fake ip: unsupported ${args.join(" ")}`, exitCode: 1 };
  }
}
