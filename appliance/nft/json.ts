/**
 * Typed builders for the subset of libnftables' JSON schema (json_schema_version 1) that the appliance
 * emits. Building commands from typed values, never from strings, is what keeps the ruleset honest.
 */
export type NftFamily = "inet";

export type MetaKey = "iifname" | "oifname" | "nfproto" | "l4proto" | "mark";

export type Expr =
  | string
  | number
  | { prefix: { addr: string; len: number } }
  | { concat: Expr[] }
  | { range: [number, number] }
  | { payload: { protocol: "ip" | "ip6" | "ether"; field: "saddr" | "daddr" } }
  | { payload: { protocol: "udp" | "tcp" | "th"; field: "dport" } }
  | { meta: { key: MetaKey } }
  | { ct: { key: "state" } }
  | { map: { key: Expr; data: string } }
  | { set: Expr[] }
  | { "|": [Expr, Expr] }
  | string[];

export type Statement =
  | { match: { op: "==" | "!=" | "in"; left: Expr; right: Expr } }
  | { snat: { family: "ip" | "ip6"; addr: Expr } }
  /** Anonymous (null), per-key through a map, or a named counter object (its name). */
  | { counter: null | string | { map: { key: Expr; data: string } } }
  | { mangle: { key: Expr; value: Expr } }
  /** Adds the key to a dynamic set from the packet path (or refreshes its timeout). */
  | { set: { op: "update"; elem: Expr; set: string } }
  /** Looks the key up in a verdict map and takes the verdict found (nothing when there is none). */
  | { vmap: { key: Expr; data: string } }
  | { jump: { target: string } }
  /** Like jump, but the chain's end returns to the caller of this chain, not here. */
  | { goto: { target: string } }
  /** At most `rate` per `per`: past it the rule stops here (what follows in it is skipped). */
  | { limit: { rate: number; per: "second"; burst: number } }
  /** To an NFLOG group (read by the daemon), never the kernel log. */
  | { log: { prefix: string; group: number } }
  | { reject: { type: "tcp reset" } | { type: "icmpx"; expr: "admin-prohibited" } }
  | { masquerade: null }
  | { accept: null }
  | { drop: null }
  | { return: null };

export interface TableRef { family: NftFamily; name: string }

export interface SetSpec {
  name: string;
  /** Element type, a list for concatenations. */
  type: string | string[];
  /** Data type for maps. */
  map?: string;
  flags?: string[];
  /** Default element lifetime in seconds (sets with the timeout flag). */
  timeout?: number;
  /** Most elements the set may hold (a bound on what the packet path can add). */
  size?: number;
  elem?: unknown[];
}

/** A base chain (hooked into the packet path) or, with only a name, a regular chain that rules jump to. */
export type ChainSpec = {
  name: string;
  type: "nat" | "filter";
  hook: "postrouting" | "prerouting" | "forward" | "input";
  prio: number;
  policy: "accept";
} | { name: string; type?: undefined; hook?: undefined; prio?: undefined; policy?: undefined };

export interface RuleSpec {
  chain: string;
  /** Our stable rule identity: read back to prove every intended rule is present and in order. */
  comment: string;
  expr: Statement[];
}

export type Command = Record<string, unknown>;

export const metainfo: Command = { metainfo: { json_schema_version: 1 } };

export const saddr = (protocol: "ip" | "ip6"): Expr => ({ payload: { protocol, field: "saddr" } });
export const daddr = (protocol: "ip" | "ip6"): Expr => ({ payload: { protocol, field: "daddr" } });
export const meta = (key: MetaKey): Expr => ({ meta: { key } });
export const etherSaddr: Expr = { payload: { protocol: "ether", field: "saddr" } };
export const dport = (protocol: "udp" | "tcp" | "th"): Expr => ({ payload: { protocol, field: "dport" } });

export function prefixExpr(cidr: string): Expr {
  const slash = cidr.indexOf("/");
  return { prefix: { addr: cidr.slice(0, slash), len: Number(cidr.slice(slash + 1)) } };
}

export function batch(commands: Command[]): { nftables: Command[] } {
  return { nftables: [metainfo, ...commands] };
}

export const addTable = (t: TableRef): Command => ({ add: { table: { family: t.family, name: t.name } } });
export const deleteTable = (t: TableRef): Command => ({ delete: { table: { family: t.family, name: t.name } } });
export const addCounter = (t: TableRef, name: string): Command => ({ add: { counter: { family: t.family, table: t.name, name } } });
export const deleteCounter = (t: TableRef, name: string): Command => ({ delete: { counter: { family: t.family, table: t.name, name } } });

export function addSet(t: TableRef, spec: SetSpec): Command {
  const kind = spec.map === undefined ? "set" : "map";
  const body: Record<string, unknown> = { family: t.family, table: t.name, name: spec.name, type: spec.type };
  if (spec.map !== undefined) body["map"] = spec.map;
  if (spec.flags && spec.flags.length > 0) body["flags"] = spec.flags;
  if (spec.timeout !== undefined) body["timeout"] = spec.timeout;
  if (spec.size !== undefined) body["size"] = spec.size;
  if (spec.elem && spec.elem.length > 0) body["elem"] = spec.elem;
  return { add: { [kind]: body } };
}

export function elementCommand(verb: "add" | "delete", t: TableRef, set: string, elem: unknown[]): Command {
  return { [verb]: { element: { family: t.family, table: t.name, name: set, elem } } };
}

export function addChain(t: TableRef, spec: ChainSpec): Command {
  return { add: { chain: { family: t.family, table: t.name, ...spec } } };
}

export function addRule(t: TableRef, spec: RuleSpec): Command {
  return { add: { rule: { family: t.family, table: t.name, chain: spec.chain, comment: spec.comment, expr: spec.expr } } };
}
