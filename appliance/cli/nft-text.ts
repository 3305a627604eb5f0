import type { Command } from "../nft/json.js";
import { editedRules, SET_NAMES, type NftState, type SetName } from "../nft/state.js";

type Json = Record<string, unknown>;

/** One nft expression of the subset the appliance emits, in nft's own syntax. */
export function exprText(expr: unknown): string {
  if (typeof expr === "string") return expr.startsWith("@") ? expr : JSON.stringify(expr);
  if (typeof expr === "number") return String(expr);
  if (Array.isArray(expr)) return expr.map((e) => (typeof e === "string" ? e : exprText(e))).join(",");
  const e = expr as Json;
  if (e["payload"]) {
    const p = e["payload"] as { protocol: string; field: string };
    return `${p.protocol} ${p.field}`;
  }
  if (e["meta"]) {
    const key = (e["meta"] as { key: string }).key;
    return key === "iifname" || key === "oifname" ? key : `meta ${key}`;
  }
  if (e["|"]) {
    const [left, right] = e["|"] as [unknown, unknown];
    return `${exprText(left)} | ${typeof right === "number" ? `0x${right.toString(16)}` : exprText(right)}`;
  }
  if (e["ct"]) return `ct ${(e["ct"] as { key: string }).key}`;
  if (e["concat"]) return (e["concat"] as unknown[]).map(exprText).join(" . ");
  if (e["prefix"]) {
    const p = e["prefix"] as { addr: string; len: number };
    return `${p.addr}/${p.len}`;
  }
  if (e["map"]) {
    const m = e["map"] as { key: unknown; data: string };
    return `${exprText(m.key)} map ${m.data}`;
  }
  return JSON.stringify(expr);
}

export function statementText(statement: unknown): string {
  const s = statement as Json;
  if (s["match"]) {
    const m = s["match"] as { op: string; left: unknown; right: unknown };
    const right = exprText(m.right);
    const op = m.op === "==" || m.op === "in" ? "" : `${m.op} `;
    return `${exprText(m.left)} ${op}${right}`;
  }
  if (s["snat"]) {
    const n = s["snat"] as { family: string; addr: unknown };
    return `snat ${n.family} to ${exprText(n.addr)}`;
  }
  if ("counter" in s) {
    const c = s["counter"] as { map?: { key: unknown; data: string } } | string | null;
    if (typeof c === "string") return `counter name ${c}`;
    return c?.map ? `counter name ${exprText(c.map.key)} map ${c.map.data}` : "counter";
  }
  if (s["mangle"]) {
    const m = s["mangle"] as { key: unknown; value: unknown };
    return `${exprText(m.key)} set ${exprText(m.value)}`;
  }
  if (s["set"]) {
    const u = s["set"] as { op: string; elem: unknown; set: string };
    return `${u.op} ${u.set} { ${exprText(u.elem)} }`;
  }
  if (s["vmap"]) {
    const v = s["vmap"] as { key: unknown; data: string };
    return `${exprText(v.key)} vmap ${v.data}`;
  }
  if (s["jump"]) return `jump ${(s["jump"] as { target: string }).target}`;
  if (s["limit"]) {
    const l = s["limit"] as { rate: number; per: string; burst: number };
    return `limit rate ${l.rate}/${l.per} burst ${l.burst} packets`;
  }
  if (s["log"]) {
    const l = s["log"] as { prefix: string; group: number };
    return `log prefix ${JSON.stringify(l.prefix)} group ${l.group}`;
  }
  if (s["reject"]) {
    const r = s["reject"] as { type: string; expr?: string };
    return r.expr === undefined ? `reject with ${r.type}` : `reject with ${r.type} ${r.expr}`;
  }
  const [verb] = Object.keys(s);
  return verb ?? JSON.stringify(statement);
}

/**
 * The rendered table (the batch the daemon sends, from renderFull) as nft-like text: what `nft list table`
 * would show once applied, with set elements from the desired state.
 */
export function renderNftText(commands: Command[], state: NftState): string {
  const lines: string[] = [];
  let table = "";
  const chains = new Map<string, string[]>();
  for (const command of commands) {
    const add = command["add"] as Json | undefined;
    if (!add) continue;
    if (add["table"]) {
      const t = add["table"] as { family: string; name: string };
      table = `table ${t.family} ${t.name}`;
    } else if (add["counter"]) {
      lines.push(`  counter ${(add["counter"] as { name: string }).name} { }`);
    } else if (add["set"] || add["map"]) {
      const set = (add["set"] ?? add["map"]) as { name: string; type: string | string[]; map?: string; flags?: string[]; timeout?: number; size?: number };
      const kind = add["map"] ? "map" : "set";
      const type = Array.isArray(set.type) ? set.type.join(" . ") : set.type;
      const elements = (SET_NAMES as readonly string[]).includes(set.name) ? [...state.sets[set.name as SetName]] : [];
      lines.push(`  ${kind} ${set.name} {`);
      lines.push(`    type ${type}${set.map ? ` : ${set.map}` : ""}`);
      if (set.flags?.length) lines.push(`    flags ${set.flags.join(",")}`);
      if (set.timeout !== undefined) lines.push(`    timeout ${set.timeout}s`);
      if (set.size !== undefined) lines.push(`    size ${set.size}`);
      if (elements.length > 0) {
        lines.push("    elements = {");
        for (const [key, value] of elements) lines.push(`      ${key}${kind === "map" ? ` : ${value}` : ""},`);
        lines.push("    }");
      }
      lines.push("  }");
    } else if (add["chain"]) {
      const c = add["chain"] as { name: string; type?: string; hook?: string; prio?: number; policy?: string };
      chains.set(c.name, c.hook === undefined ? [`  chain ${c.name} {`] : [`  chain ${c.name} {`, `    type ${c.type} hook ${c.hook} priority ${c.prio}; policy ${c.policy};`]);
    } else if (add["rule"]) {
      const r = add["rule"] as { chain: string; comment?: string; expr: unknown[] };
      const body = r.expr.map(statementText).join(" ");
      chains.get(r.chain)?.push(`    ${body}${r.comment ? ` comment ${JSON.stringify(r.comment)}` : ""}`);
    }
  }
  for (const chain of chains.values()) lines.push(...chain, "  }");
  return `${table} {\n${lines.join("\n")}\n}\n`;
}

export interface NftDifference {
  /** missing: rendered but not live; unexpected: live but not rendered; different: both, with other values. */
  kind: "missing" | "unexpected" | "different";
  object: string;
  key?: string;
  rendered?: string;
  live?: string;
}

/** Element by element: what the live table lacks, has in excess, or holds with another value. */
export function diffNft(rendered: NftState, live: NftState | undefined): NftDifference[] {
  if (!live) return [{ kind: "missing", object: "table", rendered: "the whole table", live: "no such table" }];
  const out: NftDifference[] = [];
  for (const name of SET_NAMES) {
    const want = rendered.sets[name];
    const have = live.sets[name];
    for (const [key, value] of want) {
      if (!have.has(key)) out.push({ kind: "missing", object: name, key, rendered: value });
      else if (have.get(key) !== value) out.push({ kind: "different", object: name, key, rendered: value, live: have.get(key) ?? "" });
    }
    for (const [key, value] of have) if (!want.has(key)) out.push({ kind: "unexpected", object: name, key, live: value });
  }
  for (const counter of rendered.counters) if (!live.counters.has(counter)) out.push({ kind: "missing", object: "counter", key: counter });
  for (const counter of live.counters) if (!rendered.counters.has(counter)) out.push({ kind: "unexpected", object: "counter", key: counter });
  for (const chain of new Set([...Object.keys(rendered.chains), ...Object.keys(live.chains)])) {
    const want = rendered.chains[chain];
    const have = live.chains[chain];
    if (!have) out.push({ kind: "missing", object: `chain ${chain}`, rendered: (want ?? []).join(", ") });
    else if (!want) out.push({ kind: "unexpected", object: `chain ${chain}`, live: have.join(", ") });
    else if (want.join("\n") !== have.join("\n")) out.push({ kind: "different", object: `chain ${chain}`, rendered: want.join(", "), live: have.join(", ") });
    else for (const edit of editedRules(rendered, live, chain)) out.push({ kind: "different", object: `chain ${chain} rule ${edit.comment}`, rendered: edit.wanted, live: edit.actual });
  }
  return out;
}

export function formatNftDifferences(differences: NftDifference[]): string {
  return differences.map((d) => {
    const what = `${d.object}${d.key !== undefined ? ` ${d.key}` : ""}`;
    const value = (v: string | undefined) => (v ? ` : ${v}` : "");
    if (d.kind === "missing") return `+ ${what}${value(d.rendered)}    (rendered, not live)`;
    if (d.kind === "unexpected") return `- ${what}${value(d.live)}    (live, not rendered)`;
    return `~ ${what}: live ${d.live ?? "?"}, rendered ${d.rendered ?? "?"}`;
  }).join("\n") + (differences.length > 0 ? "\n" : "");
}
