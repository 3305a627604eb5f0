import type { LineHandlers, LineStream, LineStreamSpec, LineStreams } from "../../appliance/system/line-stream.js";
import type { CommandResult, CommandRunner, RunOptions } from "../../appliance/system/runner.js";
import { accepts, CommandError, NOT_INSTALLED_EXIT_CODE } from "../../appliance/system/runner.js";
import type { System } from "../../appliance/system/system.js";
import { FakeFiles } from "./fake-files.js";
import { FakeSpoolFiles } from "./fake-spool.js";
import { FakeSysctls } from "./fake-sysctls.js";

type Json = Record<string, unknown>;

export interface RecordedCall {
  command: string;
  args: string[];
  /** The nft batch, when the call passed one with -f. */
  batch?: { nftables: Json[] };
  /** What was written to the command's stdin (ip -batch -). */
  input?: string;
}

export interface FakeNeighbour {
  dst: string;
  lladdr?: string;
  state: string;
  managed: boolean;
}

export interface FakeRule {
  family: 4 | 6;
  priority: number;
  iif: string;
  fwmark: string;
  fwmask: string;
  action: string;
}

interface OpenStream {
  spec: LineStreamSpec;
  handlers: LineHandlers;
}

const ok = (stdout = ""): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
const fail = (stderr: string, exitCode: number): CommandResult => ({ stdout: "", stderr, exitCode });

/** An element key as the desired state spells it: "a/len", "a/len . b/len", "mac . a/len". */
export function elementKeyText(element: unknown): string {
  const key = Array.isArray(element) ? element[0] : element;
  const text = (part: unknown): string => {
    if (typeof part === "string") return part;
    const p = part as { prefix?: { addr: string; len: number }; concat?: unknown[] };
    if (p.prefix) return `${p.prefix.addr}/${p.prefix.len}`;
    if (p.concat) return p.concat.map(text).join(" . ");
    return JSON.stringify(part);
  };
  return text(key);
}

/**
 * A statement the way nft lists it, which is not always the way it was sent (seen with nft 1.0.6): an
 * anonymous counter shows what it counted, and protocol numbers their names.
 */
function asListed(statement: unknown): unknown {
  const s = statement as { counter?: unknown; match?: { left: unknown; right: unknown } };
  if ("counter" in s && s.counter === null) return { counter: { packets: 0, bytes: 0 } };
  if (s.match && JSON.stringify(s.match.left) === '{"meta":{"key":"l4proto"}}' && s.match.right === 112) return { match: { ...s.match, right: "vrrp" } };
  return statement;
}

/**
 * A stand-in for the machine, for unit tests only: it keeps the nft table, routes, addresses, neighbour
 * entries and policy rules that the commands it receives would have produced, and records every call. It
 * also stands in for the long-running monitors (nft monitor, ip monitor neigh): it emits the events the
 * kernel would, for its own changes and for those a test makes "from outside". The files the daemon wrote
 * and the kernel settings it set are in `files` and `sysctls`; asSystem() hands all of it to a daemon as its
 * System. Integration tests use the real machine.
 */
export class FakeSystem implements CommandRunner, LineStreams {
  calls: RecordedCall[] = [];
  sets = new Map<string, { kind: "set" | "map"; flags?: string[]; elem: Map<string, unknown> }>();
  counters = new Set<string>();
  /** Packet counts of named counters, as the packet path would have made them. */
  counterPackets = new Map<string, number>();
  /** Rules as sent; `listing()` shows them the way nft lists them. */
  rules: { chain: string; comment: string; expr: unknown[] }[] = [];
  chains: { name: string; hook?: string; prio?: number; policy?: string }[] = [];
  tableExists = false;
  routes = new Map<string, { dst: string; gateway: string; protocol: string }>();
  addresses: { ifname: string; local: string; prefixlen: number }[] = [{ ifname: "outside", local: "203.0.113.1", prefixlen: 24 }];
  /** The hosts on the inside link: who answers ARP/ND for which address, with which MAC. */
  lan = new Map<string, string>();
  neighbours = new Map<string, FakeNeighbour>();
  policyRules: FakeRule[] = [];
  /** Makes the next nft apply (not check) fail, as a kernel refusal would. */
  failNextApply: string | undefined;
  /** How many applies in a row fail with failNextApply (then it is cleared). */
  failApplyTimes = 1;
  /** The kernel refuses a route via a next hop this returns true for ("Nexthop has invalid gateway"). */
  refuseNextHop: ((via: string) => boolean) | undefined;
  /** The kernel refuses every batch (check or apply) that adds an element this returns true for ("File exists"). */
  refuseElement: ((set: string, key: string) => boolean) | undefined;
  streams: OpenStream[] = [];
  /** What `conntrack -L` prints (the kernel's connection table); undefined: conntrack is not installed. */
  conntrackListing: string | undefined;
  readonly files = new FakeFiles();
  readonly sysctls = new FakeSysctls();
  readonly spool = new FakeSpoolFiles();

  /** All four doorways of the system module, for whatever takes a whole System (the daemon). */
  asSystem(): System {
    return { runner: this, streams: this, files: this.files, sysctls: this.sysctls, spool: this.spool };
  }

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const call: RecordedCall = { command, args: [...args], ...(options.input === undefined ? {} : { input: options.input }) };
    if (command === "nft" && options?.inputFile !== undefined) call.batch = JSON.parse(options.inputFile) as { nftables: Json[] };
    this.calls.push(call);
    const result = this.handle(call);
    if (!accepts(options, result.exitCode)) throw new CommandError(command, args, result.exitCode, result.stderr);
    return result;
  }

  callsOf(command: string, first?: string): RecordedCall[] {
    return this.calls.filter((c) => c.command === command && (first === undefined || c.args.includes(first)));
  }

  /** The lines of every `ip -batch` sent so far. */
  batchLines(): string[] {
    return this.callsOf("ip", "-batch").flatMap((c) => (c.input ?? "").split("\n").filter(Boolean));
  }

  // ---- long-running monitors ----

  open(spec: LineStreamSpec, handlers: LineHandlers): LineStream {
    const stream: OpenStream = { spec, handlers };
    this.streams.push(stream);
    handlers.onStart?.();
    return { stop: async () => void (this.streams = this.streams.filter((s) => s !== stream)) };
  }

  /** Sends a line to every open stream of `command` (e.g. "nft" for nft monitor). */
  emit(command: string, line: string): void {
    for (const stream of this.streams.filter((s) => s.spec.command === command)) stream.handlers.onLine(line);
  }

  /** A monitor process dies and is restarted: its onStart runs again. */
  restartStreams(command: string): void {
    for (const stream of this.streams.filter((s) => s.spec.command === command)) stream.handlers.onStart?.();
  }

  // ---- what others do to the kernel ----

  /** `nft delete table inet egress_gateway` (or a flush of the ruleset) run by someone else. */
  deleteTableFromOutside(): void {
    this.deleteTable();
  }

  /** `nft replace rule … handle N …` run by someone else: the rule with this comment keeps it but does `expr`. */
  replaceRuleFromOutside(comment: string, expr: unknown[]): void {
    const rule = this.rules.find((r) => r.comment === comment);
    if (!rule) throw new Error(`fake: no rule ${comment}`);
    rule.expr = expr;
  }

  /** A host on the inside link now answers for `address` with `mac` (a node replaced, a NIC swapped). */
  moveHost(address: string, mac: string): void {
    this.lan.set(address, mac);
    const entry = this.neighbours.get(address);
    if (!entry) return;
    entry.lladdr = mac;
    entry.state = "STALE";
    this.emit("ip", `${address} lladdr ${mac}${entry.managed ? " managed" : ""} STALE`);
  }

  /** A neighbour entry still being resolved gets its answer. */
  resolve(address: string): void {
    const mac = this.lan.get(address);
    const entry = this.neighbours.get(address);
    if (!mac || !entry) throw new Error(`fake: cannot resolve ${address}`);
    entry.lladdr = mac;
    entry.state = "REACHABLE";
    this.emit("ip", `${address} lladdr ${mac}${entry.managed ? " managed" : ""} REACHABLE`);
  }

  private handle(call: RecordedCall): CommandResult {
    if (call.command === "nft") {
      if (call.batch) {
        const refused = this.refusal(call.batch.nftables);
        if (refused) return fail(`Error: Could not process rule: File exists\n${refused}`, 1);
        if (call.args.includes("-c")) return ok();
        if (this.failNextApply !== undefined) {
          const reason = this.failNextApply;
          if (--this.failApplyTimes <= 0) {
            this.failNextApply = undefined;
            this.failApplyTimes = 1;
          }
          return fail(reason, 1);
        }
        this.applyBatch(call.batch.nftables);
        // --echo: like the kernel, report back every command that was carried out.
        return ok(call.args.includes("-e") ? JSON.stringify(call.batch) : "");
      }
      if (call.args.includes("list") && call.args.includes("chains")) {
        return ok(JSON.stringify({ nftables: [{ metainfo: { json_schema_version: 1 } },
          ...(this.tableExists ? this.chains.map((c) => ({ chain: { family: "inet", table: "egress_gateway", ...c } })) : [])] }));
      }
      if (call.args.includes("list")) {
        if (!this.tableExists) return fail("Error: No such file or directory", 1);
        return ok(JSON.stringify(this.listing()));
      }
    }
    if (call.command === "ip") return this.handleIp(call.args, call.input);
    if (call.command === "conntrack" && call.args.includes("-L") && this.conntrackListing !== undefined) return ok(this.conntrackListing);
    // Like a machine where only what the fake models is installed.
    return { ...fail(`${call.command}: not installed`, NOT_INSTALLED_EXIT_CODE), notInstalled: true };
  }

  /** The first element of the batch the kernel would refuse, if any. */
  private refusal(commands: Json[]): string | undefined {
    if (!this.refuseElement) return undefined;
    for (const command of commands) {
      const [verb, body] = Object.entries(command)[0] as [string, Json];
      if (verb !== "add") continue;
      const [kind, object] = Object.entries(body)[0] as [string, Json];
      if (!["set", "map", "element"].includes(kind)) continue;
      for (const element of (object["elem"] as unknown[] | undefined) ?? []) {
        const key = elementKeyText(element);
        if (this.refuseElement(object["name"] as string, key)) return `add element ${String(object["name"])} { ${key} }`;
      }
    }
    return undefined;
  }

  private applyBatch(commands: Json[]): void {
    for (const command of commands) {
      const [verb, body] = Object.entries(command)[0] as [string, Json];
      const [kind, object] = Object.entries(body)[0] as [string, Json];
      if (verb === "metainfo") continue;
      if (kind === "table") {
        if (verb === "delete") this.deleteTable();
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
        const { name, hook, prio, policy } = object as { name: string; hook?: string; prio?: number; policy?: string };
        this.chains.push({ name, hook, prio, policy });
      } else if (kind === "rule") {
        this.rules.push({ chain: object["chain"] as string, comment: object["comment"] as string, expr: (object["expr"] as unknown[] | undefined) ?? [] });
      }
    }
  }

  /** Like the kernel: the table goes with everything in it, and nft monitor reports each deletion. */
  private deleteTable(): void {
    const existed = this.tableExists;
    const rules = this.rules;
    const chains = this.chains;
    this.reset();
    if (!existed) return;
    const t = { family: "inet", table: "egress_gateway" };
    for (const rule of rules) this.emit("nft", JSON.stringify({ delete: { rule: { ...t, chain: rule.chain, comment: rule.comment } } }));
    for (const chain of chains) this.emit("nft", JSON.stringify({ delete: { chain: { ...t, name: chain.name } } }));
    this.emit("nft", JSON.stringify({ delete: { table: { family: "inet", name: "egress_gateway" } } }));
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
        ...[...this.counters].map((name) => ({ counter: { name, packets: this.counterPackets.get(name) ?? 0, bytes: 0 } })),
        ...[...this.sets].map(([name, set]) => ({ [set.kind]: { name, ...(set.flags ? { flags: set.flags } : {}), elem: [...set.elem.values()] } })),
        ...this.chains.map((chain) => ({ chain })),
        ...this.rules.map((rule) => ({ rule: { ...rule, expr: rule.expr.map(asListed) } })),
      ],
    };
  }

  // ---- ip ----

  private handleIp(args: string[], input: string | undefined): CommandResult {
    if (args[0] === "-force" && args[1] === "-batch") return this.handleBatch(input ?? "");
    if (args[0] === "-j" && args[2] === "route" && args[3] === "show") {
      const v6 = args[1] === "-6";
      const protocol = args[5] as string;
      return ok(JSON.stringify([...this.routes.values()]
        .filter((r) => r.protocol === protocol && r.dst.includes(":") === v6)
        .map((r) => ({ dst: r.dst, gateway: r.gateway, dev: "inside", flags: [] }))));
    }
    if (args[0] === "route" && args[1] === "replace") {
      if (this.refuseNextHop?.(args[4] as string)) return fail("Error: Nexthop has invalid gateway.", 2);
      this.routes.set(args[2] as string, { dst: args[2] as string, gateway: args[4] as string, protocol: args[args.indexOf("proto") + 1] as string });
      return ok();
    }
    if (args[0] === "route" && args[1] === "del") {
      return this.routes.delete(args[2] as string) ? ok() : fail("RTNETLINK answers: No such process", 2);
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
        if (index >= 0) return fail("RTNETLINK answers: File exists", 2);
        this.addresses.push({ ifname, local: local as string, prefixlen: Number(length) });
      } else {
        if (index < 0) return fail("RTNETLINK answers: Cannot assign requested address", 2);
        this.addresses.splice(index, 1);
      }
      return ok();
    }
    if (args[0] === "-j" && args[1] === "neigh" && args[2] === "show") {
      return ok(JSON.stringify([...this.neighbours.values()].map((n) => ({
        dst: n.dst, ...(n.lladdr ? { lladdr: n.lladdr } : {}), ...(n.managed ? { managed: null } : {}), state: [n.state],
      }))));
    }
    if (args[0] === "neigh" && args[1] === "replace") {
      const dst = args[2] as string;
      const existing = this.neighbours.get(dst);
      const mac = existing?.lladdr ?? this.lan.get(dst);
      // A managed entry is resolved by the kernel in the background: a known host answers at once here.
      this.neighbours.set(dst, { dst, ...(mac ? { lladdr: mac } : {}), state: mac ? "REACHABLE" : "INCOMPLETE", managed: args.includes("managed") });
      return ok();
    }
    if (args[0] === "neigh" && args[1] === "del") {
      return this.neighbours.delete(args[2] as string) ? ok() : fail("RTNETLINK answers: No such file or directory", 2);
    }
    if ((args[0] === "-j" && args[2] === "rule" && args[3] === "show")) {
      const family = args[1] === "-6" ? 6 : 4;
      return ok(JSON.stringify([
        { priority: 0, src: "all", table: "local" },
        ...this.policyRules.filter((r) => r.family === family)
          .map((r) => ({ priority: r.priority, src: "all", fwmark: r.fwmark, fwmask: r.fwmask, iif: r.iif, action: r.action })),
        { priority: 32766, src: "all", table: "main" },
      ]));
    }
    if ((args[0] === "-4" || args[0] === "-6") && args[1] === "rule" && (args[2] === "add" || args[2] === "del")) {
      const value = (key: string) => args[args.indexOf(key) + 1] as string;
      const [fwmark, fwmask] = value("fwmark").split("/") as [string, string];
      const rule: FakeRule = {
        family: args[0] === "-6" ? 6 : 4, priority: Number(value("pref")), iif: value("iif"), fwmark, fwmask: `0x${Number(fwmask).toString(16)}`,
        action: args.at(-1) as string,
      };
      const same = (r: FakeRule) => JSON.stringify(r) === JSON.stringify(rule);
      if (args[2] === "add") {
        if (this.policyRules.some(same)) return fail("RTNETLINK answers: File exists", 2);
        this.policyRules.push(rule);
        return ok();
      }
      const index = this.policyRules.findIndex(same);
      if (index < 0) return fail("RTNETLINK answers: No such file or directory", 2);
      this.policyRules.splice(index, 1);
      return ok();
    }
    return fail(`fake ip: unsupported ${args.join(" ")}`, 1);
  }

  /**
   * `ip -force -batch -`: each line on its own, failures reported as the real ip does; a failed
   * `neigh del` makes ip exit at once (it does, in iproute2 6.1), abandoning the rest of the batch.
   */
  private handleBatch(input: string): CommandResult {
    const lines = input.split("\n").filter((line) => line.trim());
    let stderr = "";
    for (const [index, line] of lines.entries()) {
      const result = this.handleIp(line.trim().split(/\s+/), undefined);
      if (result.exitCode === 0) continue;
      if (line.startsWith("neigh del")) return fail(`${stderr}${result.stderr}\n`, 2);
      stderr += `${result.stderr}\nCommand failed -:${index + 1}\n`;
    }
    return stderr ? fail(stderr, 1) : ok();
  }
}
