import { elementKey } from "./element-key.js";
import type { Command } from "./json.js";

/**
 * The element and counter changes of `sent` that nft's `--echo` output does not report back as done, as
 * text ("add snat_v4 10.244.1.0/26", "delete counter out_v4_203_0_113_10"). The echo may spell a host prefix
 * as a bare address, so every bare address is read as its host prefix, on both sides alike.
 */
export function unconfirmedChanges(sent: readonly Command[], echoed: readonly Command[]): string[] {
  const confirmed = new Set(echoed.flatMap(changeKeys));
  return sent.flatMap(changeKeys).filter((key) => !confirmed.has(key));
}

/** The commands of `nft -e -j` output (its metainfo left out); nothing for an empty output. */
export function parseEcho(stdout: string): Command[] {
  if (!stdout.trim()) return [];
  return ((JSON.parse(stdout) as { nftables?: Command[] }).nftables ?? []).filter((c) => !("metainfo" in c));
}

function changeKeys(command: Command): string[] {
  const [verb, body] = Object.entries(command)[0] as [string, Record<string, Record<string, unknown>>];
  const element = body["element"];
  if (element) return ((element["elem"] as unknown[] | undefined) ?? []).map((e) => `${verb} ${String(element["name"])} ${elementKey(Array.isArray(e) ? e[0] : e, true)}`);
  const counter = body["counter"];
  return counter ? [`${verb} counter ${String(counter["name"])}`] : [];
}
